#!/usr/bin/env bash
# `make bench`: builds the release binary and runs `gatehouse bench` (arguments are passed on, e.g.
# `--database postgres://postgres@127.0.0.1/gatehouse_bench --redis redis://127.0.0.1:6379`).
# Not part of the test command: it measures, it does not check behaviour.
source "$(dirname "$0")/lib.sh"
if ! command -v wrk >/dev/null 2>&1; then
  say "installing Debian's wrk (the load tool the benchmark also measures with)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null || say "wrk not installed; the benchmark uses its own driver only"
fi
if ! command -v oha >/dev/null 2>&1; then
  say "installing oha 1.16.0 (the load tool a new user reaches for; cargo install, a few minutes once)"
  cargo install oha --version 1.16.0 --locked || say "oha not installed; the benchmark runs without it"
fi
say "building the release binary"
cargo build --release --features ssr
# Thousands of concurrent streams need as many sockets on both ends.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
say "running the benchmark"
exec "$CARGO_TARGET_DIR/release/gatehouse" bench "$@"
