#!/usr/bin/env bash
# The whole test suite (what CI runs): the Debian packages the suites need, the
# Kafka client built once for Node 24, the type check and the build, then unit
# and integration tests on Node 24. Integration tests start real PostgreSQL
# servers (embedded-postgres, majors 14-18) and brokers on free loopback ports;
# narrow the matrix with PGCDC_TEST_MAJORS="17 18", or name test files.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/test-prerequisites.sh
scripts/kafka-client.sh
node_modules/.bin/tsc -p tsconfig.json
node_modules/.bin/tsc -p console/tsconfig.json
rm -rf dist && node_modules/.bin/tsc -p tsconfig.build.json
node scripts/build-console.mjs
files=("$@")
if [ ${#files[@]} -eq 0 ]; then files=(test/unit/*.test.ts test/integration/*.test.ts); fi
# test/support/file-deadline.ts ends a test file that outlives its deadline (a
# server that never stops, a hook that hangs) with a line saying so, instead of
# letting the run hang until CI's limit.
exec scripts/node.sh --import ./test/support/file-deadline.ts --test --test-concurrency=1 --test-timeout=600000 "${files[@]}"
