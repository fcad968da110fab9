#!/usr/bin/env bash
# The browser benchmark: figures, not a test. Builds the release site and binaries, serves a large JSON Lines object
# and a JSON array of the same records (1 GiB each by default; SLUICE_BENCH_MB changes it) from the S3-like object
# server, and imports each through `sluice serve --site dist` into the OpenSearch test server in its fast mode (a
# sink that never limits the importer: action lines checked, ids counted, sources not parsed): in headless Chromium
# (MB/s, docs/s, the longest main-thread task, peak JS heap + wasm memory, time from a reload at 90 % to the first
# resumed bulk request), then with the native `sluice import` through the same proxy, and prints the ratio and the
# ceiling (the records as prebuilt bodies posted straight to the sink).
# SLUICE_BENCH_LOCAL_MB=2048 adds a local file of that size picked through the file input (SLUICE_BENCH_ONLY_LOCAL=1
# runs only that). SLUICE_BENCH_TRACE=1 records a Chromium trace of each browser import and prints what every
# main-thread task over 50 ms spent its time on; SLUICE_BENCH_PROFILE=1 adds V8's CPU samples to it and prints each
# thread's CPU and the functions with the most self time. Each import also prints the CPU seconds of every process
# taking part (Chromium's renderer, network service and the rest, the proxy, the sink, the native importer) and the
# requests at a time its card showed. Needs scripts/setup.sh to have run. About 1.5 GB of RAM per GiB of
# object (and ~230 MB of trace per GiB with the trace on).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

mb=${SLUICE_BENCH_MB:-1024}
# The sandbox's records average 133 bytes in JSON Lines.
records=$(( mb * 1048576 / 133 ))
# Below 32768, outside Linux's ephemeral range, so an outgoing connection never holds one of them.
objects_port=27000 control_port=27002 opensearch_port=27200 site_port=26080

cargo build --release -p sluice-server -p sluice-testkit --bins
trunk build --release
mkdir -p target/bench
target/release/sluice-sandbox --opensearch-port "$opensearch_port" --objects-port "$objects_port" \
  --control-port "$control_port" --records "$records" --fast > target/bench/sandbox.log 2>&1 &
pids=$!
target/release/sluice serve --opensearch "http://127.0.0.1:$opensearch_port" --allow-index 'bench*' \
  --site dist --listen "127.0.0.1:$site_port" --max-body-mib 64 > target/bench/proxy.log 2>&1 &
pids="$pids $!"
trap 'kill $pids 2>/dev/null || true' EXIT
echo "Generating $records records per object ($mb MiB of JSON Lines)..."
for url in "http://127.0.0.1:$control_port/counts" "http://127.0.0.1:$site_port/_sluice/config"; do
  until curl -fs "$url" >/dev/null 2>&1; do
    # A server that exited (a port still taken by an earlier run, say) would otherwise be waited for in vain.
    for pid in $pids; do
      kill -0 "$pid" 2>/dev/null || { echo "a server exited; see target/bench/*.log:" >&2; tail -n 3 target/bench/*.log >&2; exit 1; }
    done
    sleep 0.25
  done
done

SLUICE_BENCH_SITE="http://127.0.0.1:$site_port/" SLUICE_BENCH_OBJECTS="http://127.0.0.1:$objects_port" \
  SLUICE_BENCH_OPENSEARCH="http://127.0.0.1:$opensearch_port" \
  node tests/bench/browser-bench.mjs
