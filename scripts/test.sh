#!/usr/bin/env bash
# `make test`: every test. Unit and integration tests on SQLite, the same on PostgreSQL (own databases,
# dropped afterwards), the real-SMTP test, then the browser tests in Chromium against a fresh server.
source "$(dirname "$0")/lib.sh"
ensure_rust_tools
ensure_test_tools
ensure_postgres

LOGDIR="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  drop_test_databases || true
  rm -rf "$LOGDIR"
}
trap cleanup EXIT

status=0
say "Rust tests on SQLite"
TEST_DATABASE=sqlite cargo test --features ssr --no-fail-fast 2>&1 | tee "$LOGDIR/sqlite.log" || status=1
say "Rust tests on PostgreSQL"
TEST_DATABASE=postgres cargo test --features ssr --no-fail-fast --tests 2>&1 | tee "$LOGDIR/postgres.log" || status=1

# Built after the Rust tests: `cargo test` builds the server with dev-dependency features unified in, and
# that server's HTML does not hydrate with the site's WebAssembly. The browser tests need cargo-leptos's build.
say "building the site and server (cargo leptos build)"
cargo leptos build

# Runs the browser tests against a server binary and the site it serves; `$1` names the run (debug, release).
browser_tests() {
  local build="$1" server="$2"
  say "browser tests (end2end/) in Chromium, $build build"
  local port dir
  port="$(free_port)"
  dir="$(mktemp -d)"
  # The mock streams at a readable pace, so the chat's Stop button has something to stop.
  GATEHOUSE_ADDR="127.0.0.1:$port" DATABASE_URL="sqlite://$dir/e2e.db" LEPTOS_SITE_ROOT="$ROOT/target/site" MOCK_STREAM_PACE_MS=30 \
    RUST_LOG=warn "$server" >"$LOGDIR/server-$build.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 50); do
    curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.2
  done
  (cd end2end && BASE_URL="http://127.0.0.1:$port" GATEHOUSE_BIN="$server" E2E_BUILD="$build" \
    E2E_DATABASE_URL="sqlite://$dir/e2e.db" node --test --test-concurrency=1 tests/) 2>&1 | tee "$LOGDIR/e2e-$build.log" || status=1
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
  rm -rf "$dir"
}

browser_tests debug "$CARGO_TARGET_DIR/debug/gatehouse"

# The production build too (optimised WebAssembly through wasm-opt): a site that does not hydrate there
# fails here, not in production.
say "building the release site and server (cargo leptos build --release)"
ensure_wasm_opt
cargo leptos build --release
browser_tests release "$CARGO_TARGET_DIR/release/gatehouse"

count() { awk -v f="$1" '/^test result:/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ "^" f) n += $i } END { print n + 0 }' "$LOGDIR"/sqlite.log "$LOGDIR"/postgres.log; }
passed=$(count passed)
failed=$(count failed)
e2e_pass=$(cat "$LOGDIR"/e2e-*.log | awk '/^# pass / { n += $3 } END { print n + 0 }')
e2e_fail=$(cat "$LOGDIR"/e2e-*.log | awk '/^# fail / { n += $3 } END { print n + 0 }')
passed=$((${passed:-0} + ${e2e_pass:-0}))
failed=$((${failed:-0} + ${e2e_fail:-0}))
if [ "$passed" -eq 0 ] || [ "$failed" -ne 0 ]; then status=1; fi
echo
echo "Rust (SQLite + PostgreSQL) and browser tests:"
echo "total: $passed passed, $failed failed"
exit $status
