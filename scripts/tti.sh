#!/usr/bin/env bash
# `make tti`: builds the production site and server, serves them on a free port with a fresh SQLite file,
# and measures time to interactive over an emulated 20 Mbit/s link (end2end/bench/time_to_interactive.mjs).
source "$(dirname "$0")/lib.sh"
ensure_rust_tools
ensure_wasm_opt
ensure_test_tools
say "building the release site and server (cargo leptos build --release)"
cargo leptos build --release
port="$(free_port)"
dir="$(mktemp -d)"
GATEHOUSE_ADDR="127.0.0.1:$port" DATABASE_URL="sqlite://$dir/tti.db" LEPTOS_SITE_ROOT="$ROOT/target/site" RUST_LOG=warn \
  "$CARGO_TARGET_DIR/release/gatehouse" >"$dir/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 50); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
ls -l "$ROOT/target/site/pkg" | awk 'NR > 1 { printf "  %-44s %9d bytes\n", $9, $5 }'
(cd end2end && BASE_URL="http://127.0.0.1:$port" node bench/time_to_interactive.mjs)
