#!/usr/bin/env bash
# Builds the package, then runs its tests (node:test). Called by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")"
./build.sh
node --test test/*.test.mjs
