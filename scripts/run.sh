#!/usr/bin/env bash
# Builds the web app and the `sluice` binary, then serves the app through `sluice serve --site dist` on
# http://127.0.0.1:${PORT:-8080}/.
#
# Without OPENSEARCH_URL it first starts a local sandbox (the OpenSearch test server on :9200 and an S3-like object
# server on :9000 with sample data) and allows every index. With OPENSEARCH_URL it proxies to that cluster; then
# set SLUICE_ALLOW_INDEX (e.g. "logs-*") and, if needed, OPENSEARCH_USERNAME / OPENSEARCH_PASSWORD.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
source scripts/env.sh
trunk build --release
cargo build --release -p sluice-server -p sluice-testkit --bins
port="${PORT:-8080}"

if [ -z "${OPENSEARCH_URL:-}" ]; then
  printf '\n\033[1mNo OPENSEARCH_URL: starting the local sandbox.\033[0m\n'
  target/release/sluice-sandbox &
  sandbox=$!
  trap 'kill $sandbox 2>/dev/null' EXIT
  for _ in $(seq 50); do curl -fs http://127.0.0.1:9200/ >/dev/null 2>&1 && break; sleep 0.1; done
  export OPENSEARCH_URL=http://127.0.0.1:9200
  export SLUICE_ALLOW_INDEX="${SLUICE_ALLOW_INDEX:-*}"
  printf 'Try the CLI too:\n  target/release/sluice import --url "<a URL above>" --index sample --opensearch %s\n' "$OPENSEARCH_URL"
elif [ -z "${SLUICE_ALLOW_INDEX:-}" ]; then
  echo "Set SLUICE_ALLOW_INDEX to the index patterns analysts may write to (e.g. SLUICE_ALLOW_INDEX='logs-*')." >&2
  exit 2
fi

printf '\n\033[1mOpen http://127.0.0.1:%s/ (Ctrl-C stops everything)\033[0m\n\n' "$port"
target/release/sluice serve --site dist --listen "127.0.0.1:$port"
