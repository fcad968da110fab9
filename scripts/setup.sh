#!/usr/bin/env bash
# Installs what a fresh machine lacks to build, run and test Sluice. Idempotent: what is already there (at the
# right version) is skipped, so it is cheap to run before every build. Everything comes from crates.io, npm and
# Debian packages; nothing downloads a binary from anywhere else (Trunk is configured offline, see Trunk.toml).
set -euo pipefail
cd "$(dirname "$0")/.."

TRUNK_VERSION=0.21.14 # 0.22 needs a newer rustc than this toolchain's

step() { printf '\033[1m==> %s\033[0m\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

export PATH="$HOME/.cargo/bin:$PATH"

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "Adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi
for component in clippy rustfmt; do
  if ! rustup component list --installed | grep -q "^$component"; then
    step "Adding rustup component $component"
    rustup component add "$component"
  fi
done

if [ "$(trunk --version 2>/dev/null)" != "trunk $TRUNK_VERSION" ]; then
  step "Installing trunk $TRUNK_VERSION (cargo install, ~7 min on 2 cores)"
  cargo install --locked "trunk@$TRUNK_VERSION"
fi

# Trunk insists that the wasm-bindgen CLI matches the library in Cargo.lock exactly.
wasm_bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $wasm_bindgen_version" ]; then
  step "Installing wasm-bindgen-cli $wasm_bindgen_version (cargo install, ~2 min)"
  # Not --locked: one of its locked dependency versions is missing from the registry mirror here.
  cargo install --force "wasm-bindgen-cli@$wasm_bindgen_version"
fi

if [ ! -x node_modules/.bin/wasm-opt ] || ! node_modules/.bin/wasm-opt --version | grep -q 'version 132' \
  || [ ! -d node_modules/playwright-core ] || [ ! -x node_modules/@cloudflare/workerd-linux-64/bin/workerd ]; then
  step "Installing node packages (binaryen's wasm-opt 132, playwright-core, workerd)"
  npm ci --no-audit --no-fund
fi

# moto in server mode: the S3-compatible server of the integration tests (crates/server/tests/moto_s3.rs).
MOTO_VERSION=5.2.5
if [ "$(.tools/venv/bin/pip show moto 2>/dev/null | awk '/^Version/ {print $2}')" != "$MOTO_VERSION" ]; then
  step "Installing moto $MOTO_VERSION (S3-compatible test server, from PyPI) into .tools/venv"
  python3 -m venv .tools/venv || { as_root apt-get install -y python3-venv && python3 -m venv .tools/venv; }
  .tools/venv/bin/pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi

if ! have chromium || ! have chromedriver; then
  step "Installing Debian's chromium and chromium-driver (browser tests)"
  as_root apt-get update
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y --no-install-recommends chromium chromium-driver
fi

step "Tools ready: $(trunk --version), $(wasm-bindgen --version), wasm-opt $(node_modules/.bin/wasm-opt --version | awk '{print $3}'), workerd $(node_modules/@cloudflare/workerd-linux-64/bin/workerd --version | awk '{print $2}'), $(chromium --version 2>/dev/null | head -n1)"
