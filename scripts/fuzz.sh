#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets: token, jwks, policy, authorize, path,
# claim_path, pem, key_source, sidecar_request, sidecar_cli) with
# libFuzzer for a bounded time, seeded from fuzz/seeds (see fuzz/gen_seeds.py).
#
#   scripts/fuzz.sh                 each target for FUZZ_SECONDS (default 60), with
#                                   AddressSanitizer (`make fuzz`)
#   scripts/fuzz.sh --quick         each target for 15 s, no sanitizer (`make test`)
#   scripts/fuzz.sh token jwks      only these targets
#
# FUZZ_JOBS targets run at once (default: the number of CPUs), each libFuzzer
# on one CPU. The quick pass builds without AddressSanitizer: the crate forbids
# unsafe code (src/lib.rs), so ASan only watches the dependencies' unsafe code,
# which the full pass keeps doing; without it the build takes about 70 s less
# and each target runs more inputs in its 15 s. Both builds have debug
# assertions and overflow checks on, and a panic is a crash in both. Switching
# between the two rebuilds fuzz/target.
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
sanitizer=address
jobs=${FUZZ_JOBS:-$(nproc)}
targets=()
for arg in "$@"; do
  case $arg in
    --quick) seconds=15; sanitizer=none ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
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
# Release build with debug assertions and overflow checks (cargo-fuzz's defaults),
# with AddressSanitizer unless --quick.
t0=$SECONDS
cargo fuzz build --fuzz-dir fuzz -s "$sanitizer"
echo "[fuzz] build (sanitizer: $sanitizer): $((SECONDS - t0)) s"

# fuzz_one TARGET: runs it, then prints one line; exits 1 on a crash.
fuzz_one() {
  local target=$1 corpus=fuzz/corpus/$1 log=fuzz/artifacts/$1.log
  mkdir -p "$corpus" "fuzz/artifacts/$target"
  # The first directory is the working corpus (gitignored); the seeds are read only.
  if cargo fuzz run --fuzz-dir fuzz -s "$sanitizer" "$target" "$corpus" "fuzz/seeds/$target" -- \
      -max_total_time="$seconds" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 >"$log" 2>&1; then
    local execs cov
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
    echo "[fuzz] $target: ok, ${execs:-?} execs, ${cov:-cov: ?}, corpus $(ls "$corpus" | wc -l) files"
  else
    # One block, so that the other job's lines do not land inside it.
    local report
    report=$(
      echo "[fuzz] $target: FAILED (log: $log); crash inputs:"
      ls -1 "fuzz/artifacts/$target" | sed 's/^/  /'
      grep -m 20 -E 'panicked|ERROR|SUMMARY' "$log" || tail -n 40 "$log"
    )
    echo "$report"
    return 1
  fi
}

echo "[fuzz] ${#targets[@]} targets, ${seconds} s each, $jobs at a time"
status=0
pids=()
for target in "${targets[@]}"; do
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
  fi
  fuzz_one "$target" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
exit $status
