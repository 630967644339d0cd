#!/usr/bin/env bash
# `make release`: installs what is missing (cargo-leptos, wasm-bindgen, binaryen's wasm-opt) and builds the
# production site and server: `cargo leptos build --release`. Prints how to run it.
source "$(dirname "$0")/lib.sh"
ensure_rust_tools
ensure_wasm_opt
say "building the release site and server (cargo leptos build --release)"
cargo leptos build --release
say "built: run it with"
echo "  GATEHOUSE_MODE=production LEPTOS_SITE_ROOT=$ROOT/target/site $CARGO_TARGET_DIR/release/gatehouse"
echo "  (and the settings of the README's production notes: DATABASE_URL, SMTP_URL, PUBLIC_BASE_URL, ...)"
ls -l "$ROOT/target/site/pkg" | awk 'NR > 1 { printf "  %-28s %9d bytes\n", $9, $5 }'
