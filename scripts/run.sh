#!/usr/bin/env bash
# `make run`: installs what is missing, builds, and serves Gatehouse on its embedded defaults
# (SQLite file under ./data, dev mailbox), printing the URL to open.
source "$(dirname "$0")/lib.sh"
ensure_rust_tools
say "building (cargo leptos build)"
cargo leptos build
export LEPTOS_SITE_ROOT="$ROOT/target/site"
# The demo's mock upstream streams at a readable pace (unless you set your own).
export MOCK_STREAM_PACE_MS="${MOCK_STREAM_PACE_MS:-25}"
say "starting Gatehouse (ctrl-c stops it)"
exec "$CARGO_TARGET_DIR/debug/gatehouse"
