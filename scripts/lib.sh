#!/usr/bin/env bash
# Shared set-up for `make run` and `make test`: installs what is missing (pinned versions), safe to run twice.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# Compiled dependencies live outside the clone, so a fresh clone (CI) reuses them.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/gatehouse/target}"
export PATH="$HOME/.cargo/bin:$PATH"
# cargo-leptos compiles the server with this set, and Leptos then names the wasm file after it. Setting it for
# every cargo command keeps `cargo test` from rebuilding the server into one that asks for `gatehouse_bg.wasm`.
export LEPTOS_OUTPUT_NAME=gatehouse

CARGO_LEPTOS_VERSION=0.3.2
# wasm-opt for release builds: binaryen from npm. Debian's binaryen 108 rewrites the export of wasm-bindgen's
# externref table to the function table, and the release site then fails to hydrate in the browser.
BINARYEN_VERSION=132.0.0
BINARYEN_DIR="${GATEHOUSE_TOOLS:-$HOME/.cache/gatehouse}/binaryen"
AIOSMTPD_VERSION=1.4.6
ANTHROPIC_SDK_VERSION=2.14.0
OPENAI_SDK_VERSION=3.57.0
PROMETHEUS_CLIENT_VERSION=0.26.0

say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

ensure_rust_tools() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  if ! cargo leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
    say "installing cargo-leptos $CARGO_LEPTOS_VERSION (about 13 minutes, once)"
    cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked --features no_downloads
  fi
  local wb
  wb="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)"
  if ! wasm-bindgen --version 2>/dev/null | grep -q " $wb\$"; then
    say "installing wasm-bindgen-cli $wb (matches Cargo.lock)"
    cargo install wasm-bindgen-cli --version "$wb"
  fi
}

# Puts binaryen's wasm-opt (pinned, from npm) first on PATH, where `cargo leptos build --release` finds it.
ensure_wasm_opt() {
  if [ ! -x "$BINARYEN_DIR/node_modules/.bin/wasm-opt" ] ||
    ! "$BINARYEN_DIR/node_modules/.bin/wasm-opt" --version 2>/dev/null | grep -q "version ${BINARYEN_VERSION%%.*}"; then
    say "installing binaryen $BINARYEN_VERSION (wasm-opt for release builds) from npm"
    mkdir -p "$BINARYEN_DIR"
    (cd "$BINARYEN_DIR" && npm install --no-audit --no-fund --silent --no-save "binaryen@$BINARYEN_VERSION")
  fi
  export PATH="$BINARYEN_DIR/node_modules/.bin:$PATH"
}

ensure_test_tools() {
  if [ ! -x /usr/bin/chromium ]; then
    say "installing Debian's chromium for the browser tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
  if [ ! -d /usr/share/fonts/opentype/noto ] || ! ls /usr/share/fonts/opentype/noto | grep -q CJK; then
    say "installing Debian's fonts-noto-cjk (Chinese and Japanese pages in the browser tests' screenshots)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk >/dev/null
  fi
  if ! python3 -c 'import aiosmtpd' 2>/dev/null; then
    say "installing aiosmtpd $AIOSMTPD_VERSION (the SMTP server the SMTP test sends through)"
    python3 -m pip install --quiet --root-user-action=ignore "aiosmtpd==$AIOSMTPD_VERSION"
  fi
  if ! python3 -c "import anthropic, openai, sys; sys.exit(anthropic.__version__ != '$ANTHROPIC_SDK_VERSION' or openai.__version__ != '$OPENAI_SDK_VERSION')" 2>/dev/null; then
    say "installing the anthropic $ANTHROPIC_SDK_VERSION and openai $OPENAI_SDK_VERSION Python SDKs (real API clients in the tests)"
    python3 -m pip install --quiet --root-user-action=ignore "anthropic==$ANTHROPIC_SDK_VERSION" "openai==$OPENAI_SDK_VERSION"
  fi
  if ! python3 -c "import importlib.metadata as m, sys; sys.exit(m.version('prometheus-client') != '$PROMETHEUS_CLIENT_VERSION')" 2>/dev/null; then
    say "installing prometheus-client $PROMETHEUS_CLIENT_VERSION (Prometheus' own parser reads /metrics in the tests)"
    python3 -m pip install --quiet --root-user-action=ignore "prometheus-client==$PROMETHEUS_CLIENT_VERSION"
  fi
  if [ ! -d end2end/node_modules/playwright-core ] || [ ! -x end2end/node_modules/.bin/claude ] ||
    [ ! -x end2end/node_modules/.bin/codex ] || [ ! -f end2end/node_modules/axe-core/axe.min.js ]; then
    say "installing the end2end npm packages"
    (cd end2end && npm ci --no-audit --no-fund --silent)
  fi
}

ensure_postgres() {
  if ! psql -h 127.0.0.1 -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1; then
    say "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
    for _ in $(seq 1 30); do
      psql -h 127.0.0.1 -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1 && return 0
      sleep 1
    done
    echo "PostgreSQL did not come up on 127.0.0.1:5432" >&2
    return 1
  fi
}

drop_test_databases() {
  psql -h 127.0.0.1 -U postgres -d postgres -Atc \
    "select datname from pg_database where datname like 'gatehouse_test_%'" 2>/dev/null |
    while read -r db; do
      [ -n "$db" ] && psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null
    done
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
