#!/usr/bin/env bash
# End-to-end tests of the built web app (tests/e2e/) in Debian's headless Chromium via playwright-core, against
# `sluice serve --site dist`, the OpenSearch test server and the S3-like object server on loopback (the sandbox, with
# its download-cutting proxy and its control API, which the tests use to read the object server's request log,
# rewrite objects and inject faults). A second proxy requires an analyst token.
# Expects scripts/setup.sh to have run and dist/ to be built.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
[ -f dist/index.html ] || { echo "dist/ is missing: run 'trunk build --release' first" >&2; exit 1; }

# Below 32768, outside Linux's ephemeral range (32768–60999), so an outgoing connection never holds one of them.
objects_port=29000 cut_port=29001 control_port=29002 opensearch_port=29200 site_port=28080 token_site_port=28081
edge_port=28082
moto_port=29500
records=100000
cargo build -p sluice-server -p sluice-testkit --bins
mkdir -p target/e2e
target/debug/sluice-sandbox --opensearch-port "$opensearch_port" --objects-port "$objects_port" \
  --cut-port "$cut_port" --control-port "$control_port" --records "$records" --latency-ms 25 \
  > target/e2e/sandbox.log 2>&1 &
pids=$!
target/debug/sluice serve --opensearch "http://127.0.0.1:$opensearch_port" --allow-index 'sample*' \
  --allow-create-index --site dist --listen "127.0.0.1:$site_port" > target/e2e/proxy.log 2>&1 &
pids="$pids $!"
SLUICE_TOKENS=e2e-analyst-token target/debug/sluice serve --opensearch "http://127.0.0.1:$opensearch_port" \
  --allow-index 'sample*' --site dist --listen "127.0.0.1:$token_site_port" > target/e2e/token-proxy.log 2>&1 &
pids="$pids $!"
[ -f target/edge/sluice_edge_bg.wasm ] || ./scripts/edge.sh build
rm -rf target/e2e/edge-site target/e2e/edge-state
cp -r dist target/e2e/edge-site
echo '{"proxy": "", "edge": ""}' > target/e2e/edge-site/config.json
EDGE_PORT=$edge_port EDGE_STATE_DIR=target/e2e/edge-state EDGE_SITE_DIR=target/e2e/edge-site \
  OPENSEARCH_URL="http://127.0.0.1:$opensearch_port" SLUICE_ALLOW_INDEX='sample*' SLUICE_SLICE_MIB=4 \
  ./scripts/edge.sh run > target/e2e/edge.log 2>&1 &
pids="$pids $!"
# moto's own global CORS (flask-cors, exposing no headers) is off: the bucket's CORS rules answer, as on S3.
MOTO_DISABLE_GLOBAL_CORS=true .tools/venv/bin/moto_server -H 127.0.0.1 -p "$moto_port" > target/e2e/moto.log 2>&1 &
pids="$pids $!"
trap 'kill $pids 2>/dev/null || true' EXIT
for url in "http://127.0.0.1:$opensearch_port/" "http://127.0.0.1:$site_port/_sluice/config" \
  "http://127.0.0.1:$token_site_port/_sluice/health" "http://127.0.0.1:$control_port/counts" \
  "http://127.0.0.1:$moto_port/moto-api/" "http://127.0.0.1:$edge_port/_sluice/config"; do
  for _ in $(seq 200); do curl -fs "$url" >/dev/null 2>&1 && break; sleep 0.1; done
done
# A server that exited (its port taken by a leftover process, say) fails the run here, with its reason, rather
# than as sixteen "fetch failed" tests.
for pid in $pids; do
  kill -0 "$pid" 2>/dev/null || { echo "a test server exited:" >&2; tail -n 2 target/e2e/*.log >&2; exit 1; }
done

moto_url=$(.tools/venv/bin/python tests/e2e/moto_setup.py "http://127.0.0.1:$moto_port" \
  "http://127.0.0.1:$site_port" "http://127.0.0.1:$objects_port/sample/events.jsonl")

SLUICE_E2E_OPENSEARCH="http://127.0.0.1:$opensearch_port" SLUICE_E2E_MOTO_URL="$moto_url" SLUICE_E2E_SITE="http://127.0.0.1:$site_port/" SLUICE_E2E_TOKEN_SITE="http://127.0.0.1:$token_site_port/" SLUICE_E2E_EDGE_SITE="http://127.0.0.1:$edge_port/" \
SLUICE_E2E_OBJECTS="http://127.0.0.1:$objects_port" SLUICE_E2E_CUT_OBJECTS="http://127.0.0.1:$cut_port" \
SLUICE_E2E_CONTROL="http://127.0.0.1:$control_port" SLUICE_E2E_RECORDS="$records" \
  node --test --test-concurrency=1 ${SLUICE_E2E_FILTER:+--test-name-pattern "$SLUICE_E2E_FILTER"} tests/e2e/
