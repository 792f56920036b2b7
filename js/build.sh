#!/usr/bin/env bash
# Builds the npm package's WebAssembly module and glue into js/pkg/.
#
#   1. cargo: the core + src/js.rs only (feature `js`), profile `release-js`
#      (its own output folder, so the Envoy filter build never overwrites it)
#   2. wasm-bindgen --target web: one ESM glue for Node, browsers, workers, bundlers
#   3. wasm-opt (binaryen from npm) with the flags chosen in js/README.md
#      (JWTGATE_WASM_OPT overrides them, "none" skips the step; for measuring)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="$ROOT/.build/cargo/bin:$PATH"
OUT=js/pkg
PROFILE=release-js
WASM=target/wasm32-unknown-unknown/$PROFILE/jwtgate.wasm
WASM_OPT_FLAGS=(${JWTGATE_WASM_OPT:--Oz})

# Both are quick no-ops when done: npm ci (jose, binaryen, ...) and the pinned wasm-bindgen-cli.
scripts/setup.sh js bindgen

cargo rustc --quiet --lib --profile $PROFILE --target wasm32-unknown-unknown --features js --crate-type cdylib

rm -rf "$OUT"
wasm-bindgen "$WASM" --out-dir "$OUT" --target web --no-typescript \
  --remove-name-section --remove-producers-section
if [ "${WASM_OPT_FLAGS[0]}" != none ]; then
  # Features are read from the module's target_features section, which is then dropped.
  js/node_modules/.bin/wasm-opt "${WASM_OPT_FLAGS[@]}" --strip-debug --strip-target-features \
    "$OUT/jwtgate_bg.wasm" -o "$OUT/jwtgate_bg.wasm"
fi
raw=$(stat -c %s "$OUT/jwtgate_bg.wasm")
gz=$(gzip -9 -c "$OUT/jwtgate_bg.wasm" | wc -c)
echo "js: $OUT/jwtgate_bg.wasm ($raw bytes, $gz gzipped)"
