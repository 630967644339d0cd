#!/usr/bin/env bash
# `make bench`: builds the release binary and runs `gatehouse bench` (arguments are passed on, e.g.
# `--database postgres://postgres@127.0.0.1/gatehouse_bench --redis redis://127.0.0.1:6379`).
# Not part of the test command: it measures, it does not check behaviour.
source "$(dirname "$0")/lib.sh"
say "building the release binary"
cargo build --release --features ssr
# Thousands of concurrent streams need as many sockets on both ends.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
say "running the benchmark"
exec "$CARGO_TARGET_DIR/release/gatehouse" bench "$@"
