#!/usr/bin/env bash
# Sluice at the edge, locally: builds the Worker (crates/edge → wasm-bindgen, no worker-build) and runs it in
# workerd from npm, with Durable Object storage on local disk.
#
#   ./scripts/edge.sh          build, then run (with the sandbox as OpenSearch when OPENSEARCH_URL is unset)
#   ./scripts/edge.sh build    build target/edge/ only (also what `wrangler deploy` uploads)
#   ./scripts/edge.sh run      run what was built (the tests start it this way; exec's workerd, so a SIGKILL of
#                              this process kills workerd itself)
#
# Environment (all optional):
#   EDGE_PORT (8787), EDGE_STATE_DIR (target/edge-state; keep it to keep the jobs), OPENSEARCH_URL,
#   SLUICE_ALLOW_INDEX (logs-*), SLUICE_TOKENS, SLUICE_ALLOW_ORIGIN, SLUICE_ALLOW_CREATE_INDEX,
#   OPENSEARCH_USERNAME / OPENSEARCH_PASSWORD, SLUICE_AWS_SIGV4 + AWS_REGION + AWS_ACCESS_KEY_ID +
#   AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN), SLUICE_SLICE_MIB, SLUICE_SLICE_SUBREQUESTS, SLUICE_SLICE_SECONDS,
#   SLUICE_PART_PARALLELISM, EDGE_SITE_DIR (dist; served as the site when it exists).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

mode="${1:-all}"
out=target/edge
workerd_bin=node_modules/@cloudflare/workerd-linux-64/bin/workerd

build() {
  echo "building the edge Worker (crates/edge) ..." >&2
  cargo build -p sluice-edge --target wasm32-unknown-unknown --profile wasm-release
  mkdir -p "$out"
  wasm-bindgen --target web --no-typescript --out-dir "$out" \
    target/wasm32-unknown-unknown/wasm-release/sluice_edge.wasm
  cp edge/worker.js "$out/worker.js"
}

# A text for the capnp config: quotes and backslashes escaped.
quoted() {
  local value="${1//\\/\\\\}"
  printf '"%s"' "${value//\"/\\\"}"
}

run() {
  if [ ! -x "$workerd_bin" ]; then
    echo "workerd is not installed: run ./scripts/setup.sh (it installs node packages with npm ci)" >&2
    exit 1
  fi
  if [ ! -f "$out/sluice_edge_bg.wasm" ]; then
    echo "the Worker is not built: run ./scripts/edge.sh build" >&2
    exit 1
  fi
  local port="${EDGE_PORT:-8787}"
  local state="${EDGE_STATE_DIR:-target/edge-state}"
  mkdir -p "$state"
  state="$(cd "$state" && pwd)"
  export SLUICE_ALLOW_INDEX="${SLUICE_ALLOW_INDEX:-logs-*}"
  local site="${EDGE_SITE_DIR:-dist}"
  local site_service="" site_binding=""
  if [ -f "$site/index.html" ]; then
    site="$(cd "$site" && pwd)"
    site_service="(name = \"site\", disk = (path = $(quoted "$site"))),"
    site_binding="(name = \"ASSETS\", service = \"site\"),"
  fi
  # Variables reach the Worker as bindings read from this process's environment (secrets never land in a file).
  local bindings=""
  for name in OPENSEARCH_URL OPENSEARCH_USERNAME OPENSEARCH_PASSWORD SLUICE_AWS_SIGV4 AWS_REGION \
    AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN SLUICE_ALLOW_INDEX SLUICE_TOKENS \
    SLUICE_ALLOW_ORIGIN SLUICE_ALLOW_CREATE_INDEX SLUICE_MAX_BODY_MIB SLUICE_SLICE_MIB \
    SLUICE_SLICE_SUBREQUESTS SLUICE_SLICE_SECONDS SLUICE_PART_PARALLELISM; do
    if [ -n "${!name:-}" ]; then
      bindings+="    (name = \"$name\", fromEnvironment = \"$name\"),"$'\n'
    fi
  done
  local config="$out/config-$port.capnp"
  cat > "$config" <<EOF
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "sluice", worker = .sluiceWorker),
    # workerd blocks private and loopback addresses by default; a local cluster and object store live there.
    (name = "internet", network = (allow = ["public", "private", "local"])),
    (name = "state", disk = (path = $(quoted "$state"), writable = true)),
    $site_service
  ],
  sockets = [(name = "http", address = "127.0.0.1:$port", http = (), service = "sluice")],
);

const sluiceWorker :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "worker.js"),
    (name = "sluice_edge.js", esModule = embed "sluice_edge.js"),
    (name = "sluice_edge_bg.wasm", wasm = embed "sluice_edge_bg.wasm"),
  ],
  compatibilityDate = "2026-11-01",
  globalOutbound = "internet",
  durableObjectNamespaces = [
    (className = "SluiceJob", uniqueKey = "sluice-job", enableSql = true),
    (className = "SluiceRegistry", uniqueKey = "sluice-registry", enableSql = true),
  ],
  durableObjectStorage = (localDisk = "state"),
  bindings = [
    (name = "JOBS", durableObjectNamespace = "SluiceJob"),
    (name = "REGISTRY", durableObjectNamespace = "SluiceRegistry"),
    $site_binding
$bindings  ],
);
EOF
  echo "sluice edge: http://127.0.0.1:$port (OpenSearch $OPENSEARCH_URL, indices $SLUICE_ALLOW_INDEX, state $state)" >&2
  exec "$workerd_bin" serve "$config"
}

case "$mode" in
  build) build ;;
  run) run ;;
  all)
    build
    if [ -z "${OPENSEARCH_URL:-}" ]; then
      # No cluster named: the sandbox (the OpenSearch test server and an S3-like object server) stands in.
      cargo build -p sluice-testkit --bin sluice-sandbox
      mkdir -p target/edge
      target/debug/sluice-sandbox --opensearch-port 39200 --objects-port 39000 > target/edge/sandbox.log 2>&1 &
      sandbox=$!
      export OPENSEARCH_URL=http://127.0.0.1:39200
      echo "no OPENSEARCH_URL: the sandbox stands in (OpenSearch 127.0.0.1:39200, objects 127.0.0.1:39000, log target/edge/sandbox.log)" >&2
      # workerd in the background and waited for, so Ctrl-C or a TERM stops it and the sandbox together.
      (run) &
      edge=$!
      trap 'kill $sandbox $edge 2>/dev/null || true' EXIT
      trap 'exit 130' INT
      trap 'exit 143' TERM
      wait $edge
    else
      run
    fi
    ;;
  *)
    echo "usage: $0 [build|run]" >&2
    exit 2
    ;;
esac
