#!/usr/bin/env bash
# The whole test suite (what CI runs): type check, build, then unit and
# integration tests on Node 24. Integration tests start real PostgreSQL servers
# (embedded-postgres, majors 14-18) on free loopback ports; narrow the matrix
# with PGCDC_TEST_MAJORS="17 18".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/native-addons.sh
node_modules/.bin/tsc -p tsconfig.json
rm -rf dist && node_modules/.bin/tsc -p tsconfig.build.json
files=("$@")
if [ ${#files[@]} -eq 0 ]; then files=(test/unit/*.test.ts test/integration/*.test.ts); fi
exec scripts/node.sh --test --test-concurrency=1 --test-timeout=600000 "${files[@]}"
