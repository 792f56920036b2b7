#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets: token, jwks, policy, authorize, path,
# claim_path, pem, key_source, sidecar_request, sidecar_cli) with
# libFuzzer for a bounded time, seeded from fuzz/seeds (see fuzz/gen_seeds.py).
#
#   scripts/fuzz.sh                 each target for FUZZ_SECONDS (default 60)
#   scripts/fuzz.sh --quick         each target for 15 s
#   scripts/fuzz.sh token jwks      only these targets
#
# cargo-fuzz needs nightly-only rustc flags (-Zsanitizer, sancov); this machine
# has stable Rust only, so the build runs with RUSTC_BOOTSTRAP=1. cargo-fuzz
# itself is installed once into .build/cargo. The fuzz crate has its own
# workspace and target dir (fuzz/target), so the main build is not touched.
# A crash stops the run and leaves its input in fuzz/artifacts/<target>/:
# replay it with `cargo test --test regressions` (which also replays the seeds)
# and add it to tests/regressions.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="$ROOT/.build/cargo/bin:$PATH"
CARGO_FUZZ_VERSION=0.13.2

seconds=${FUZZ_SECONDS:-60}
targets=()
for arg in "$@"; do
  case $arg in
    --quick) seconds=15 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    -*) echo "unknown option $arg" >&2; exit 2 ;;
    *) targets+=("$arg") ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(token jwks policy authorize path claim_path pem key_source sidecar_request sidecar_cli)

if ! cargo fuzz --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION\$"; then
  echo "[fuzz] installing cargo-fuzz $CARGO_FUZZ_VERSION into .build/cargo"
  cargo install --quiet --locked --root "$ROOT/.build/cargo" cargo-fuzz --version "=$CARGO_FUZZ_VERSION"
fi

export RUSTC_BOOTSTRAP=1
# Release build with debug assertions and AddressSanitizer (cargo-fuzz defaults).
t0=$SECONDS
cargo fuzz build --fuzz-dir fuzz
echo "[fuzz] build: $((SECONDS - t0)) s"

status=0
for target in "${targets[@]}"; do
  corpus=fuzz/corpus/$target
  mkdir -p "$corpus" "fuzz/artifacts/$target"
  log=fuzz/artifacts/$target.log
  echo "[fuzz] $target: ${seconds} s"
  # The first directory is the working corpus (gitignored); the seeds are read only.
  if cargo fuzz run --fuzz-dir fuzz "$target" "$corpus" "fuzz/seeds/$target" -- \
      -max_total_time="$seconds" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 >"$log" 2>&1; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
    echo "[fuzz] $target: ok, ${execs:-?} execs, ${cov:-cov: ?}, corpus $(ls "$corpus" | wc -l) files"
  else
    status=1
    echo "[fuzz] $target: FAILED (log: $log); crash inputs:"
    ls -1 "fuzz/artifacts/$target" | sed 's/^/  /'
    grep -m 20 -E 'panicked|ERROR|SUMMARY' "$log" || tail -n 40 "$log"
  fi
done
exit $status
