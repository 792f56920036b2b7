#!/usr/bin/env bash
# `make bench`: builds what the benchmarks need, runs them side by side in one
# run, and writes docs/BENCHMARKS.md. `BENCH_QUICK=1 make bench` is the short run
# (fewer rounds, shorter cells; under 3 minutes once the builds are cached).
#
#   bench/envoy_bench.py     Envoy: no filter, jwt_authn (cache off/on), the
#                            proxy-wasm floor (bench/noop-filter), jwtgate
#   bench/footprint.py       Envoy memory added by each filter build vs the no-op filter
#   bench/core-profile/      the core natively (Verifier::authorize), for perf
#   bench/node_bench.mjs     Node: jwtgate (js/pkg) against jose, fast-jwt,
#                            jsonwebtoken, jwt-decode, node:crypto
#   bench/node_profile.mjs   the npm package taken apart at the wasm boundary
#   bench/report.py          the JSON results -> docs/BENCHMARKS.md
#   bench/worker_bench.mjs   the edge worker in workerd (bundle, CPU, startup):
#                            its own section of docs/BENCHMARKS.md
#   bench/sidecar_bench.py   `jwtgate serve` alone and behind nginx vs jwt_authn
#                            (appends its section to docs/BENCHMARKS.md)
#
# Intermediate files go to .build/bench/ (ignored). Envoy runs on CPU 0, wrk
# and Node on CPU 1, never at the same time as each other.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/.build/bench
mkdir -p "$OUT"
QUICK=${BENCH_QUICK:-0}
[ "$QUICK" = 0 ] || QUICK=1
PY=$ROOT/.build/venv/bin/python
log() { printf '[bench] %s\n' "$*" >&2; }
start=$(date +%s)

# ---------------------------------------------------------------- tools
if ! command -v wrk >/dev/null; then
  log "installing wrk (Debian package)"
  apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
fi
for tool in taskset wrk node npm cargo; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing" >&2; exit 1; }
done
[ "$(nproc)" -ge 2 ] || { echo "bench: needs 2 CPUs (Envoy on CPU 0, the load generator on CPU 1)" >&2; exit 1; }

# ---------------------------------------------------------------- builds
# What is measured: the commit, and whether src/ or js/ had uncommitted changes.
{
  git rev-parse --short HEAD
  if [ -n "$(git status --porcelain -- src js Cargo.toml Cargo.lock)" ]; then echo dirty; else echo clean; fi
} >"$OUT/source.txt"
log "building the jwtgate filter (make filter)"
make --no-print-directory filter >&2
FILTER=$ROOT/target/wasm32-unknown-unknown/release/jwtgate_filter.wasm
# The run uses a copy, so a rebuild by someone else during the run cannot change it.
cp "$FILTER" "$OUT/jwtgate_filter.wasm"
# The full filter: the signature_verifier "rust"/"host" cells (the small one refuses "rust").
make --no-print-directory filter-full >&2
cp "$ROOT/target/wasm32-unknown-unknown/release/jwtgate_filter_full.wasm" "$OUT/jwtgate_filter_full.wasm"

log "building bench/noop-filter and bench/core-profile"
CARGO_TARGET_DIR=$OUT/target-noop cargo build --quiet --release --target wasm32-unknown-unknown \
  --manifest-path bench/noop-filter/Cargo.toml
NOOP=$OUT/target-noop/wasm32-unknown-unknown/release/noop_filter.wasm
CARGO_TARGET_DIR=$OUT/target-core cargo build --quiet --release --manifest-path bench/core-profile/Cargo.toml
CORE=$OUT/target-core/release/core-profile

# Always (cargo's part is a no-op when nothing changed): a js/pkg left from another
# commit, or built with JWTGATE_JS_MODULES=default, would be measured otherwise.
log "the npm package, all its modules (js/build.sh)"
js/build.sh >&2
if [ ! -d bench/node_modules ] || [ bench/package-lock.json -nt bench/node_modules/.package-lock.json ]; then
  log "npm ci in bench/"
  (cd bench && npm ci --no-audit --no-fund --loglevel=error >&2)
fi

# ---------------------------------------------------------------- runs
if [ "$QUICK" = 1 ]; then
  ENVOY_ARGS=(--rounds 1 --seconds 1 --warmup 1)
  NODE_ARGS=(--quick)
  CORE_SECONDS=0.1
else
  ENVOY_ARGS=(--rounds 4 --seconds 3 --warmup 1)
  NODE_ARGS=()
  CORE_SECONDS=0.5
fi

log "Envoy benchmark (${ENVOY_ARGS[*]})"
envoy_rc=0
"$PY" bench/envoy_bench.py --wasm "$OUT/jwtgate_filter.wasm" --full-wasm "$OUT/jwtgate_filter_full.wasm" --noop-wasm "$NOOP" \
  "${ENVOY_ARGS[@]}" --out "$OUT/envoy.json" --workdir "$OUT" || envoy_rc=$?
[ -f "$OUT/envoy.json" ] || { echo "bench: the Envoy benchmark failed" >&2; exit 1; }

log "Envoy memory per filter build (bench/footprint.py; docs/BENCHMARKS.md, Footprint)"
"$PY" bench/footprint.py --noop-wasm "$NOOP" --rounds $([ "$QUICK" = 1 ] && echo 1 || echo 3) --workdir "$OUT/footprint" \
  --out "$OUT/footprint.json" small="$OUT/jwtgate_filter.wasm" full="$OUT/jwtgate_filter_full.wasm" | tee "$OUT/footprint.txt"

log "core, natively (bench/core-profile)"
taskset -c 1 "$CORE" "$OUT/profile-input" "$CORE_SECONDS" >"$OUT/core.jsonl"

log "Node benchmark"
(cd bench && taskset -c 1 node node_bench.mjs "${NODE_ARGS[@]}" --out "$OUT/node.json")
(cd bench && taskset -c 1 node node_profile.mjs --out "$OUT/node_profile.json")

log "writing docs/BENCHMARKS.md"
cp /proc/loadavg "$OUT/loadavg"
BENCH_LOAD_FILE=$OUT/loadavg "$PY" bench/report.py --out-dir "$OUT" --filter "$OUT/jwtgate_filter.wasm" --noop "$NOOP" \
  --quick "$QUICK" --seconds $(( $(date +%s) - start )) >docs/BENCHMARKS.md
log "edge worker in workerd (bench/worker_bench.mjs): its section of docs/BENCHMARKS.md"
(cd bench && taskset -c 1 node worker_bench.mjs $([ "$QUICK" = 1 ] && echo --quick) --out "$OUT/worker.json" --doc "$ROOT/docs/BENCHMARKS.md")
log "sidecar benchmark (bench/sidecar_bench.py): jwtgate serve alone and behind nginx, vs jwt_authn"
cargo build --quiet --release --features sidecar --bin jwtgate && cp target/release/jwtgate "$OUT/jwtgate"
if [ "$QUICK" = 1 ]; then SIDECAR_ARGS=(--rounds 1 --seconds 1); else SIDECAR_ARGS=(--rounds 3 --seconds 3); fi
"$PY" bench/sidecar_bench.py --binary "$OUT/jwtgate" "${SIDECAR_ARGS[@]}" --out "$OUT/sidecar.json" --workdir "$OUT" >>docs/BENCHMARKS.md || envoy_rc=$?
log "done in $(( $(date +%s) - start ))s: docs/BENCHMARKS.md"
if [ "$envoy_rc" != 0 ]; then
  echo "bench: some Envoy cells answered non-2xx responses (see Violations in docs/BENCHMARKS.md)" >&2
  exit 1
fi
