#!/usr/bin/env bash
# Runs every check and test of the project. Installs missing tools first (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
./scripts/setup.sh
source scripts/env.sh
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "Formatting"
cargo fmt --all --check

step "Lints (native workspace, then the web app, the edge Worker and the wasm benchmark for wasm32)"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p sluice --target wasm32-unknown-unknown --all-targets -- -D warnings
cargo clippy -p sluice-edge -p sluice-wasm-bench --target wasm32-unknown-unknown -- -D warnings

step "Engine for wasm32-unknown-unknown"
cargo build -p sluice-engine --target wasm32-unknown-unknown

step "Edge Worker: wasm-bindgen build for workerd (crates/server/tests/edge.rs runs it)"
./scripts/edge.sh build

step "Tests: unit, property (crash-resume), driver scenarios, CLI, proxy and edge (workerd) end to end"
results=$(mktemp)
trap 'rm -f "$results"' EXIT
cargo test --workspace 2>&1 | tee "$results"

step "Browser tests: IndexedDB, fetch source, an import run in headless Chromium"
./scripts/browser-tests.sh 2>&1 | tee -a "$results"

step "Web app: offline release build"
trunk build --release

step "Web app in headless Chromium"
./scripts/site-smoke.sh | tee -a "$results"

step "End-to-end: the built site in Debian's Chromium via playwright-core (tests/e2e: reloads, tabs, files, faults, moto)"
./scripts/e2e.sh 2>&1 | tee -a "$results"

# One closing line for everything: cargo's "test result" lines plus the smoke checks.
passed=$(grep -oE '[0-9]+ passed|^# pass [0-9]+' "$results" | grep -oE '[0-9]+' | awk '{ sum += $1 } END { print sum + 0 }')
failed=$(grep -oE '[0-9]+ failed|^# fail [0-9]+' "$results" | grep -oE '[0-9]+' | awk '{ sum += $1 } END { print sum + 0 }')
step "All checks passed in $((SECONDS - start)) s"
echo "total: $passed passed, $failed failed"
