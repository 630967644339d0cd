"""Parses a `/metrics` answer with Prometheus' own Python client parser and prints its samples as JSON, so the
Rust test can check them. A scrape the parser refuses makes it exit non-zero with the parser's complaint.

Usage: parse_metrics.py < metrics.txt
Prints: [{"family": ..., "type": ..., "name": ..., "labels": {...}, "value": ...}, ...]
"""
import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families

text = sys.stdin.read()
samples = []
for family in text_string_to_metric_families(text):
    if not family.documentation:
        raise SystemExit(f"family {family.name} has no help text")
    for sample in family.samples:
        value = sample.value
        # JSON has no infinity nor NaN: spell them as the exposition does.
        if math.isinf(value):
            value = "+Inf" if value > 0 else "-Inf"
        elif math.isnan(value):
            value = "NaN"
        samples.append(
            {
                "family": family.name,
                "type": family.type,
                "name": sample.name,
                "labels": dict(sample.labels),
                "value": value,
            }
        )
print(json.dumps(samples))
