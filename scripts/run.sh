#!/usr/bin/env bash
# Builds the web app (release, offline) and serves it on http://127.0.0.1:${PORT:-8080}/ until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
source scripts/env.sh
trunk build --release
port="${PORT:-8080}"
printf '\n\033[1mSluice is at http://127.0.0.1:%s/  (Ctrl-C stops it)\033[0m\n' "$port"
exec python3 -m http.server "$port" --bind 127.0.0.1 --directory dist
