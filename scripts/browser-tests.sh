#!/usr/bin/env bash
# Browser tests (tests/browser.rs) with wasm-bindgen-test in headless Chromium, against real servers on loopback:
# the sandbox (OpenSearch test server + S3-like object server) and `sluice serve`, whose CORS allows the test page's
# origin (fixed with WASM_BINDGEN_TEST_ADDRESS). Expects scripts/setup.sh to have run.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

objects_port=19000 cut_port=19001 control_port=19002 opensearch_port=19200 proxy_port=18080 page=127.0.0.1:18941
cargo build -p sluice-server -p sluice-testkit --bins
mkdir -p target/browser-tests
target/debug/sluice-sandbox --opensearch-port "$opensearch_port" --objects-port "$objects_port" \
  --cut-port "$cut_port" --control-port "$control_port" > target/browser-tests/sandbox.log 2>&1 &
pids=$!
target/debug/sluice serve --opensearch "http://127.0.0.1:$opensearch_port" --allow-index 'browser-*' \
  --allow-origin "http://$page" --listen "127.0.0.1:$proxy_port" > target/browser-tests/proxy.log 2>&1 &
pids="$pids $!"
trap 'kill $pids 2>/dev/null || true' EXIT
for url in "http://127.0.0.1:$opensearch_port/" "http://127.0.0.1:$proxy_port/_sluice/config" \
  "http://127.0.0.1:$control_port/counts"; do
  for _ in $(seq 100); do curl -fs "$url" >/dev/null 2>&1 && break; sleep 0.1; done
done
control="http://127.0.0.1:$control_port"
# A gzip copy of the JSON Lines sample, and cuts on every download through the cutting proxy.
curl -fsS "http://127.0.0.1:$objects_port/sample/events.jsonl" | gzip -c |
  curl -fsS -X PUT --data-binary @- "$control/objects/sample/events.jsonl.gz"
curl -fsS -X PUT -d '{"cut_after_bytes": 300000, "cuts": 1000}' "$control/faults/objects"

export SLUICE_TEST_OBJECTS="http://127.0.0.1:$objects_port" SLUICE_TEST_CUT_OBJECTS="http://127.0.0.1:$cut_port"
export SLUICE_TEST_PROXY="http://127.0.0.1:$proxy_port"
export WASM_BINDGEN_TEST_ADDRESS="$page" WASM_BINDGEN_TEST_TIMEOUT=120
export CHROMEDRIVER=/usr/bin/chromedriver CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
cargo test -p sluice --target wasm32-unknown-unknown --test browser --test browser_worker
