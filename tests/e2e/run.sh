#!/usr/bin/env bash
# Envoy end-to-end tests: the jwtgate filter in a real Envoy (and Envoy's own
# jwt_authn as the reference). Builds the filter when a source is newer than
# it; prints `e2e: N passed, M failed` last; exits non-zero on any failure.
#
#   tests/e2e/run.sh                 everything (about 2.5 minutes, ~20 s of it wrk load)
#   tests/e2e/run.sh -k Headers      only tests whose id contains "Headers"
#
# Logs and generated Envoy configs of the last run: .build/e2e/
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=.build/venv/bin/python
# The small filter, and the full one for the tests that need PS* or
# signature_verifier "rust" (envoy/README.md, "Which filter").
WASM=target/wasm32-unknown-unknown/release/jwtgate_filter.wasm
FULL_WASM=target/wasm32-unknown-unknown/release/jwtgate_filter_full.wasm

[ -x "$PY" ] || scripts/setup.sh py
if [ ! -f "$WASM" ] || [ -n "$(find src Cargo.toml Cargo.lock -newer "$WASM" -print -quit)" ]; then
  make --no-print-directory filter
fi
if [ ! -f "$FULL_WASM" ] || [ -n "$(find src Cargo.toml Cargo.lock -newer "$FULL_WASM" -print -quit)" ]; then
  make --no-print-directory filter-full
fi

# The filter glue's own unit tests (protobuf encoding for host crypto, ...):
# `cargo test --all-targets` builds without the envoy feature.
if ! out=$(PATH="$PWD/.build/cargo/bin:$PATH" cargo test --quiet --lib --features envoy envoy:: 2>&1); then
  printf '%s\n' "$out" | tail -n 40
  echo "e2e: envoy unit tests failed"
  exit 1
fi
printf 'envoy unit tests: %s\n' "$(printf '%s\n' "$out" | grep '^test result')"

export JWTGATE_E2E_DIR=$PWD/.build/e2e
rm -rf "$JWTGATE_E2E_DIR"
mkdir -p "$JWTGATE_E2E_DIR"
# The suite stops every Envoy it starts (also on failure); the timeout is the
# last line of defence against a hang.
exec timeout --kill-after=10 480 "$PY" tests/e2e/test_e2e.py --wasm "$WASM" --full-wasm "$FULL_WASM" "$@"
