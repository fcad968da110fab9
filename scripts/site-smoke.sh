#!/usr/bin/env bash
# Opens the built site (dist/) in headless Chromium, served under a path prefix, and checks that the wasm app
# started, its engine self-check passed, and the import worker's files are served beside it. Saves a screenshot to target/screenshots/home.png.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/index.html ] || { echo "dist/ is missing: run 'trunk build --release' first" >&2; exit 1; }

root=$(mktemp -d)
mkdir -p "$root/tools" target/screenshots
ln -s "$PWD/dist" "$root/tools/sluice"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$root" >/dev/null 2>&1 &
server=$!
profile=$(mktemp -d)
trap 'kill $server 2>/dev/null; rm -rf "$root" "$profile"' EXIT
url="http://127.0.0.1:$port/tools/sluice/"
for _ in $(seq 50); do curl -fs "$url" >/dev/null && break; sleep 0.1; done

chrome=(chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run
  --disable-background-networking --disable-component-update --disable-sync --user-data-dir="$profile")
dom=$("${chrome[@]}" --virtual-time-budget=5000 --dump-dom "$url" 2>/dev/null)
"${chrome[@]}" --window-size=1100,700 --screenshot="$PWD/target/screenshots/home.png" "$url" >/dev/null 2>&1 || true

passed=0 failed=0
check() {
  if grep -q "$2" <<<"$dom"; then passed=$((passed + 1)); echo "ok: $1"
  else failed=$((failed + 1)); echo "FAILED: $1 (no '$2' in the page)"; fi
}
check "the app mounted from a path prefix" '<h1>Sluice</h1>'
check "the engine self-check passed in Chromium" 'Engine check passed in this browser'
check "the version is shown" 'Sluice [0-9]'
# The engine's worker is started by the page at its first import (tests/e2e runs imports through it).
for file in sluice-worker_loader.js sluice-worker.js sluice-worker_bg.wasm; do
  if curl -fs -o /dev/null "$url$file"; then passed=$((passed + 1)); echo "ok: the import worker's $file is served"
  else failed=$((failed + 1)); echo "FAILED: $url$file is not served (the import worker cannot start)"; fi
done
echo "smoke: $passed passed, $failed failed"
[ "$failed" = 0 ]
