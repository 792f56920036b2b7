#!/usr/bin/env bash
# The sidecar tests: `jwtgate serve` (release build, feature `sidecar`) with
# real nginx, real Envoy (the venv's) and wrk, all on 127.0.0.1; plus the
# CLI against the npm CLI (needs js/pkg: built here when missing).
#
#   tests/sidecar/run.sh              every test
#   tests/sidecar/run.sh -k Reload    only tests whose name contains Reload
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/.build/cargo/bin:$PATH"
cargo build --quiet --release --features sidecar --bin jwtgate
[ -f js/pkg/jwtgate.js ] || js/build.sh
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "nginx is missing: scripts/setup.sh apt" >&2; exit 1; }
export JWTGATE_BIN="$PWD/target/release/jwtgate"
export JWTGATE_SIDECAR_DIR="$PWD/.build/sidecar"
rm -rf "$JWTGATE_SIDECAR_DIR"
cd tests/sidecar
exec ../../.build/venv/bin/python -m unittest discover -s . -p 'test_*.py' "$@"
