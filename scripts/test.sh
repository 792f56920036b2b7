#!/usr/bin/env bash
# Runs every check and test, prints one summary, exits non-zero on any failure.
# Called by `make test` after `make setup`.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.build/cargo/bin:$PATH"
W=wasm32-unknown-unknown
LOGDIR=.build/test-logs
mkdir -p "$LOGDIR"

names=(); results=(); times=(); logs=()
step() {
  local name=$1; shift
  local log="$LOGDIR/${name//[^a-zA-Z0-9_-]/_}.log"
  local t0=$SECONDS
  printf '==> %s\n' "$name"
  if "$@" >"$log" 2>&1; then
    results+=(ok)
  else
    results+=(FAILED)
    echo "---- $name failed; last lines of $log:"
    tail -n 60 "$log"
    echo "----"
  fi
  names+=("$name"); times+=($((SECONDS - t0))); logs+=("$log")
}

step "cargo fmt --check"            cargo fmt --all -- --check
step "clippy core (native)"         cargo clippy --all-targets -- -D warnings
step "clippy core (wasm32 no_std)"  cargo clippy --lib --target $W -- -D warnings
step "clippy envoy (native, all)"   cargo clippy --all-targets --features envoy -- -D warnings
step "clippy envoy (wasm32)"        cargo clippy --lib --target $W --features envoy -- -D warnings
# The small filter: without the pure-Rust RSA/ECDSA verifiers (feature rust-rsa-ecdsa).
step "clippy core (native, small)"  cargo clippy --all-targets --no-default-features -- -D warnings
step "clippy envoy (wasm32, small)" cargo clippy --lib --target $W --no-default-features --features envoy -- -D warnings
step "clippy js (native, all)"      cargo clippy --all-targets --features js,js-cli -- -D warnings
step "clippy js (wasm32)"           cargo clippy --lib --target $W --features js,js-cli -- -D warnings
# The default npm module: without the pure-Rust RSA/ECDSA verifiers (js/build.sh).
step "clippy js (wasm32, small)"    cargo clippy --lib --target $W --no-default-features --features js -- -D warnings
step "clippy sidecar (native, all)" cargo clippy --all-targets --features sidecar -- -D warnings
step "cargo test (native)"          cargo test --all-targets
step "cargo test --doc"             cargo test --doc
step "cargo test (small build)"     cargo test --no-default-features --test small_build
step "cargo test (sidecar)"         cargo test --features sidecar --lib --test sidecar_crypto --test regressions
step "fuzz (short pass)"            scripts/fuzz.sh --quick
step "cargo doc (warnings denied)"  env RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet
step "core build (wasm32 no_std)"   cargo build --lib --release --target $W
step "filter build (.wasm)"         make --no-print-directory filter
step "full filter build (.wasm)"    make --no-print-directory filter-full
step "differential vs PyJWT"        tests/differential/run.sh
[ -x tests/e2e/run.sh ] && step "envoy end-to-end"  tests/e2e/run.sh
[ -x js/test.sh ]       && step "js package"        js/test.sh
step "sidecar (nginx, envoy, wrk)"  tests/sidecar/run.sh

echo
echo "================ jwtgate test summary ================"
fail=0
for i in "${!names[@]}"; do
  printf '%-8s %-32s %4ss\n' "${results[$i]}" "${names[$i]}" "${times[$i]}"
  [ "${results[$i]}" = ok ] || fail=$((fail + 1))
done
# What failed, last, where a reader of only the output's tail (CI) sees it:
# the test runners' own failure lines (unittest, cargo test, node:test).
for i in "${!names[@]}"; do
  [ "${results[$i]}" = ok ] && continue
  echo "-- ${names[$i]}: failures (whole log: ${logs[$i]})"
  grep -E '^(FAIL|ERROR): |^[A-Za-z]*Error: |panicked at|^test .* FAILED$|^not ok |✖ ' "${logs[$i]}" \
    | head -n 15 | cut -c1-300
done
pass=$(( ${#names[@]} - fail ))
echo "steps: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
