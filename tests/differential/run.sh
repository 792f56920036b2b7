#!/usr/bin/env bash
# jwtgate against PyJWT on minted and mutated tokens (see differential.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --quiet --release --example verdicts
exec .build/venv/bin/python tests/differential/differential.py target/release/examples/verdicts --tokens "${DIFF_TOKENS:-3000}" "$@"
