# The two commands (see README): `make run` serves Gatehouse on its embedded defaults; `make test` runs
# every test. Both install what they need first and are safe to run twice.
.PHONY: run test release fmt lint bench tti

run:
	@bash scripts/run.sh

test:
	@bash scripts/test.sh

# The production build: the site (optimised WebAssembly) and the server, in target/site and target/release.
release:
	@bash scripts/release.sh

# Not a test: measures Gatehouse against the mock upstream and a bare proxy (README, "Performance").
bench:
	@bash scripts/bench.sh $(ARGS)

# Not a test: time to interactive of the release build over an emulated 20 Mbit/s link (README, "Performance").
tti:
	@bash scripts/tti.sh

fmt:
	cargo fmt --all

lint:
	LEPTOS_OUTPUT_NAME=gatehouse CARGO_TARGET_DIR=$${CARGO_TARGET_DIR:-$$HOME/.cache/gatehouse/target} cargo clippy --features ssr --all-targets -- -D warnings
	LEPTOS_OUTPUT_NAME=gatehouse CARGO_TARGET_DIR=$${CARGO_TARGET_DIR:-$$HOME/.cache/gatehouse/target} cargo clippy --lib --features hydrate --target wasm32-unknown-unknown -- -D warnings
