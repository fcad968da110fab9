#!/usr/bin/env bash
# The engine's throughput benchmark in WebAssembly beside the native one: figures, not a test. The same workloads
# (crates/engine/benches/workloads) are built as the page's worker is (wasm-release profile, wasm-opt -O3) and run in
# Node's V8, the engine Chromium runs the worker in, then natively; the table sets each wasm figure beside the
# native one. SLUICE_BENCH_MB sets the size of each source (default 128). Needs scripts/setup.sh to have run.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

export SLUICE_BENCH_MB=${SLUICE_BENCH_MB:-128}
out=target/bench-wasm
mkdir -p "$out"
cargo build --profile wasm-release --target wasm32-unknown-unknown -p sluice-wasm-bench
wasm-bindgen --target nodejs --out-dir "$out" \
  target/wasm32-unknown-unknown/wasm-release/sluice_wasm_bench.wasm
wasm-opt -O3 -o "$out/sluice_wasm_bench_bg.wasm" "$out/sluice_wasm_bench_bg.wasm"
cargo bench -p sluice-engine --bench throughput | tee "$out/native.txt"
node scripts/bench-wasm.mjs "$out/sluice_wasm_bench.js" "$out/native.txt"
