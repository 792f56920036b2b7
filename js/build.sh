#!/usr/bin/env bash
# Builds the npm package's two WebAssembly modules and their glue:
#
#   js/pkg/       the default module ("jwtgate"): without the pure-Rust RSA/ECDSA
#                 verifiers (cargo --no-default-features), profile `release-js`
#                 (built for size: browsers and workers download it), and beside it
#                 jwtgate_node_bg.wasm, the same sources and features built for
#                 speed (profile `release-js-node`), which the Node entry point
#                 loads; the two must give the same glue, which is checked here
#   js/full/pkg/  the `jwtgate/full` module: with them (feature rust-rsa-ecdsa) and
#                 the CLI's report (feature js-cli: cliReport, js/bin/jwtgate.mjs),
#                 profile `release-js-full`; js/full/src/ is a copy of js/src/,
#                 so its imports of ../pkg/ load this module (generated, not in git)
#
# Each module:
#   1. cargo: the core + src/js.rs only (feature `js`), in its profile's own
#      output folder (so neither build, nor the Envoy filter's, overwrites another)
#   2. wasm-bindgen --target web: one ESM glue for Node, browsers, workers, bundlers
#   3. wasm-opt (binaryen from npm) with the flags chosen in js/README.md
#      (JWTGATE_WASM_OPT overrides them for the size-built modules, "none" skips
#      the step; for measuring)
# JWTGATE_JS_MODULES=default builds the default module and its Node twin only
# (quicker, for measuring: what `import "jwtgate"` loads).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="$ROOT/.build/cargo/bin:$PATH"
WASM_OPT_FLAGS=(${JWTGATE_WASM_OPT:--Oz})

# Both are quick no-ops when done: npm ci (jose, binaryen, ...) and the pinned wasm-bindgen-cli.
scripts/setup.sh js bindgen

# build_module PROFILE OUT WASM_OPT_FLAGS CARGO_FEATURE_ARGS...
build_module() {
  local profile=$1 out=$2 opt_flags=($3)
  shift 3
  local wasm=target/wasm32-unknown-unknown/$profile/jwtgate.wasm
  cargo rustc --quiet --lib --profile "$profile" --target wasm32-unknown-unknown "$@" --crate-type cdylib
  rm -rf "$out"
  wasm-bindgen "$wasm" --out-dir "$out" --target web --no-typescript \
    --remove-name-section --remove-producers-section
  if [ "${opt_flags[0]}" != none ]; then
    # Features are read from the module's target_features section, which is then dropped.
    js/node_modules/.bin/wasm-opt "${opt_flags[@]}" --strip-debug --strip-target-features \
      "$out/jwtgate_bg.wasm" -o "$out/jwtgate_bg.wasm"
  fi
  local raw gz
  raw=$(stat -c %s "$out/jwtgate_bg.wasm")
  gz=$(gzip -9 -c "$out/jwtgate_bg.wasm" | wc -c)
  echo "js: $out/jwtgate_bg.wasm ($raw bytes, $gz gzipped)"
}

build_module release-js js/pkg "${WASM_OPT_FLAGS[*]}" --no-default-features --features js
# The Node twin: built apart, then only its .wasm is kept beside the default
# module, whose glue it shares (the same exports and imports: refused otherwise).
build_module release-js-node target/js-node-pkg -O3 --no-default-features --features js
if ! cmp -s target/js-node-pkg/jwtgate.js js/pkg/jwtgate.js; then
  echo "js/build.sh: the Node module's glue differs from the default module's" >&2
  exit 1
fi
mv target/js-node-pkg/jwtgate_bg.wasm js/pkg/jwtgate_node_bg.wasm
if [ "${JWTGATE_JS_MODULES:-all}" != default ]; then
  build_module release-js-full js/full/pkg "${WASM_OPT_FLAGS[*]}" --features js,js-cli
  rm -rf js/full/src
  cp -r js/src js/full/src
fi
