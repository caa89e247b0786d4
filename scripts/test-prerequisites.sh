#!/usr/bin/env bash
# What pgcdc's test suites need beside npm packages: Debian's servers and tools.
# Run by `npm test` before anything else. As root with apt-get (a fresh CI or
# developer machine of Debian's kind) it installs what is missing; otherwise it
# names exactly what to install, in one line, and fails.
#   postgresql-15, postgresql-15-wal2json  pg_recvlogical and the only wal2json
#                                          (pgcdc read / tail --plugin, bench anchors)
#   nats-server, redis-server,             real brokers for the sink tests
#   rabbitmq-server
#   kcat                                   hosts librdkafka's mock Kafka cluster
#   libssl-dev, zlib1g-dev                 to build the Kafka client (scripts/kafka-client.sh)
#   openssl                                test certificates (TLS tests)
#   time                                   /usr/bin/time for peak memory in benchmarks
#   chromium, chromium-driver              the console's browser tests (playwright-core drives
#                                          Debian's Chromium; no browser download)
set -euo pipefail
need=()
[ -x /usr/lib/postgresql/15/bin/pg_recvlogical ] || need+=(postgresql-15)
[ -f /usr/lib/postgresql/15/lib/wal2json.so ] || need+=(postgresql-15-wal2json)
command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || need+=(nats-server)
command -v redis-server >/dev/null || need+=(redis-server)
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || need+=(rabbitmq-server)
command -v kcat >/dev/null || need+=(kcat)
[ -f /usr/include/openssl/ssl.h ] || need+=(libssl-dev)
[ -f /usr/include/zlib.h ] || need+=(zlib1g-dev)
command -v openssl >/dev/null || need+=(openssl)
[ -x /usr/bin/time ] || need+=(time)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "test prerequisites: installing Debian packages ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq "${need[@]}" >/dev/null
  exit 0
fi
echo "pgcdc's tests need Debian packages that are missing; install them (as root): apt-get install ${need[*]}" >&2
exit 1
