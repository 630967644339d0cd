//! Prometheus' text exposition format 0.0.4, written by hand: a family's `# HELP` and `# TYPE` lines, then
//! its samples, label values escaped, histograms as cumulative `_bucket{le=...}` lines (ending at `+Inf`),
//! `_sum` and `_count`. Small enough that a crate would bring more than it saves (see `mod.rs`).

use super::histogram::Snapshot;

/// What `Content-Type` a scrape is answered with.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A family's type, as its `# TYPE` line names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// The text of one scrape, built family by family (each family's samples must follow its header).
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// Starts a family: its help text and type. Its samples follow.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        self.out.push_str("# HELP ");
        self.out.push_str(name);
        self.out.push(' ');
        escape_help(&mut self.out, help);
        self.out.push_str("\n# TYPE ");
        self.out.push_str(name);
        self.out.push(' ');
        self.out.push_str(kind.as_str());
        self.out.push('\n');
    }

    /// A sample with a whole-number value (counters, most gauges).
    pub fn count(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        self.series(name, labels, None);
        self.out.push_str(&value.to_string());
        self.out.push('\n');
    }

    /// A sample with any value.
    pub fn value(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.series(name, labels, None);
        push_float(&mut self.out, value);
        self.out.push('\n');
    }

    /// A histogram's samples: its cumulative buckets, sum and count. Bounds and the sum are in the unit the
    /// histogram recorded, divided by `per_unit` for the exported one (1e6 for microseconds to seconds;
    /// dividing, not multiplying by 1e-6, so 100000 us is written `0.1` and not `0.09999999999999999`).
    pub fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &Snapshot, per_unit: f64) {
        let bucket = format!("{name}_bucket");
        for (bound, cumulative) in h.bounds.iter().zip(&h.cumulative) {
            let mut le = String::new();
            push_float(&mut le, *bound as f64 / per_unit);
            self.series(&bucket, labels, Some(("le", &le)));
            self.out.push_str(&cumulative.to_string());
            self.out.push('\n');
        }
        self.series(&bucket, labels, Some(("le", "+Inf")));
        self.out.push_str(&h.count.to_string());
        self.out.push('\n');
        self.value(&format!("{name}_sum"), labels, h.sum as f64 / per_unit);
        self.count(&format!("{name}_count"), labels, h.count);
    }

    /// The text to send.
    pub fn finish(self) -> String {
        self.out
    }

    /// `name{label="value",...} ` (without braces when there are no labels), up to the value.
    fn series<'a>(&mut self, name: &str, labels: &[(&'a str, &'a str)], extra: Option<(&'a str, &'a str)>) {
        self.out.push_str(name);
        let mut all = labels.iter().copied().chain(extra).peekable();
        if all.peek().is_some() {
            self.out.push('{');
            for (i, (label, value)) in all.enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(label);
                self.out.push_str("=\"");
                escape_label_value(&mut self.out, value);
                self.out.push('"');
            }
            self.out.push('}');
        }
        self.out.push(' ');
    }
}

/// A label value: backslash, double quote and line feed are escaped.
fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Help text: backslash and line feed are escaped (a double quote is not, in 0.0.4).
fn escape_help(out: &mut String, help: &str) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A float as the format spells it: `+Inf`, `-Inf`, `NaN`, or a decimal (Rust never writes an exponent).
fn push_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        out.push_str(&v.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::metrics::histogram::Histogram;

    #[test]
    fn a_family_has_its_help_and_type_then_its_samples() {
        let mut e = Exposition::default();
        e.family("gatehouse_things_total", Kind::Counter, "Things.\nOn two lines, with a \\.");
        e.count("gatehouse_things_total", &[("kind", "a"), ("status", "200")], 3);
        e.count("gatehouse_things_total", &[], 0);
        e.family("gatehouse_level", Kind::Gauge, "A level.");
        e.value("gatehouse_level", &[], 0.25);
        assert_eq!(
            e.finish(),
            "# HELP gatehouse_things_total Things.\\nOn two lines, with a \\\\.\n\
             # TYPE gatehouse_things_total counter\n\
             gatehouse_things_total{kind=\"a\",status=\"200\"} 3\n\
             gatehouse_things_total 0\n\
             # HELP gatehouse_level A level.\n\
             # TYPE gatehouse_level gauge\n\
             gatehouse_level 0.25\n"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let mut e = Exposition::default();
        e.count("m", &[("provider", "a\"b\\c\nd")], 1);
        assert_eq!(e.finish(), "m{provider=\"a\\\"b\\\\c\\nd\"} 1\n");
    }

    #[test]
    fn floats_are_spelled_as_the_format_wants() {
        let spelled = |v: f64| {
            let mut s = String::new();
            push_float(&mut s, v);
            s
        };
        assert_eq!(spelled(f64::INFINITY), "+Inf");
        assert_eq!(spelled(f64::NEG_INFINITY), "-Inf");
        assert_eq!(spelled(f64::NAN), "NaN");
        assert_eq!(spelled(1.0), "1");
        assert_eq!(spelled(0.005), "0.005");
        assert_eq!(spelled(1e-7), "0.0000001");
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_end_at_inf_with_sum_and_count() {
        static BOUNDS: [u64; 3] = [100_000, 1_000_000, 5_000_000];
        let h = Histogram::new(&BOUNDS);
        for us in [50_000, 100_000, 700_000, 9_000_000] {
            h.observe(us);
        }
        let mut e = Exposition::default();
        e.histogram("gatehouse_took_seconds", &[("surface", "messages")], &h.snapshot(), 1e6);
        assert_eq!(
            e.finish(),
            "gatehouse_took_seconds_bucket{surface=\"messages\",le=\"0.1\"} 2\n\
             gatehouse_took_seconds_bucket{surface=\"messages\",le=\"1\"} 3\n\
             gatehouse_took_seconds_bucket{surface=\"messages\",le=\"5\"} 3\n\
             gatehouse_took_seconds_bucket{surface=\"messages\",le=\"+Inf\"} 4\n\
             gatehouse_took_seconds_sum{surface=\"messages\"} 9.85\n\
             gatehouse_took_seconds_count{surface=\"messages\"} 4\n"
        );
    }
}
