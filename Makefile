# jwtgate entry points. `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help
WASM_TARGET := wasm32-unknown-unknown
FILTER_WASM := target/$(WASM_TARGET)/release/jwtgate_filter.wasm

.PHONY: help setup test demo filter js check fuzz bench clean

help:
	@echo "make demo   build the filter, run a real Envoy with it, send tokens, print what happened"
	@echo "make test   install what is missing, then run every check and test (what CI runs)"
	@echo "make sidecar       build the native sidecar and CLI (target/release/jwtgate)"
	@echo "make sidecar-demo  jwtgate serve behind a real nginx: send tokens, print what happened"
	@echo "make filter build the proxy-wasm filter ($(FILTER_WASM))"
	@echo "make js     build the npm package into js/pkg"
	@echo "make fuzz   run every fuzz target for a bounded time (FUZZ_SECONDS, default 60)"
	@echo "make bench  run the benchmarks (BENCH_QUICK=1 for a short run)"

setup:
	@scripts/setup.sh

# The filter: the core plus src/envoy, linked as a cdylib for proxy-wasm.
filter:
	cargo rustc --quiet --lib --release --target $(WASM_TARGET) --features envoy --crate-type cdylib
	@cp target/$(WASM_TARGET)/release/jwtgate.wasm $(FILTER_WASM)
	@echo "filter: $(FILTER_WASM) ($$(stat -c %s $(FILTER_WASM)) bytes)"

js: setup
	@js/build.sh

# Needs only the Rust target and the Python venv (Envoy), not the js tooling.
demo:
	@scripts/setup.sh rust py
	@$(MAKE) --no-print-directory filter
	@.build/venv/bin/python envoy/demo.py --wasm $(FILTER_WASM)

test: setup
	@scripts/test.sh

# The native sidecar and CLI (feature `sidecar`; see deploy/README.md).
.PHONY: sidecar sidecar-demo
sidecar:
	cargo build --quiet --release --features sidecar --bin jwtgate
	@echo "sidecar: target/release/jwtgate"

sidecar-demo:
	@scripts/setup.sh py apt
	@$(MAKE) --no-print-directory sidecar
	@.build/venv/bin/python deploy/demo.py

fuzz:
	@scripts/fuzz.sh

bench: setup
	@bench/run.sh

clean:
	rm -rf target .build js/pkg js/node_modules
