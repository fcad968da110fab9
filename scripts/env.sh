# Sourced by the other scripts: puts the project's tools first on PATH and keeps Trunk offline and quiet.
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$repo_root/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export TRUNK_SKIP_VERSION_CHECK=true
export TRUNK_OFFLINE=true
