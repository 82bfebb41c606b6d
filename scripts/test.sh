#!/usr/bin/env bash
# The one test command (README "Test"): installs what the tests need — npm packages and the
# Debian packages for PostgreSQL, Keystone and the OpenStack CLIs — then type-checks, lints and
# runs every test once, against SQLite and a real PostgreSQL started here.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$(date +%s)
step() { printf '\n== %s (%ss)\n' "$1" "$(( $(date +%s) - started ))"; }

step "Debian packages"
./scripts/install-test-deps.sh

step "npm packages"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

# The native addon (native/*.c) is built by npm's install step; rebuild it when its sources are
# newer than the build, e.g. in a checkout whose node_modules predate a change to them.
addon=build/Release/glimpse_native.node
if [ ! -f "$addon" ] || [ -n "$(find native binding.gyp -newer "$addon" 2>/dev/null)" ]; then
  npm run install
fi

step "type-check"
npx tsc --noEmit

step "build"
# The glimpse-api and glimpse-manage processes the tests start run the compiled dist/, as users do.
npm run -s build

step "format"
npm run -s format:check

step "lint"
npx eslint --max-warnings 0 .

step "layers"
# Layers point one way (.dependency-cruiser.cjs): a new back-edge or cycle fails the run.
npx depcruise src --config .dependency-cruiser.cjs

step "PostgreSQL"
export GLIMPSE_PG_STATE
GLIMPSE_PG_STATE=$(mktemp -u /tmp/glimpse-pg-XXXXXX.state)
cleanup() { ./scripts/postgres-test-server.sh stop >/dev/null 2>&1 || true; }
trap cleanup EXIT
GLIMPSE_TEST_PG_URL=$(./scripts/postgres-test-server.sh start)
export GLIMPSE_TEST_PG_URL
export GLIMPSE_TEST_DIALECTS=sqlite,postgres

step "tests"
# One runner invocation for every test file, so its closing summary covers the whole suite.
mapfile -t files < <(find test -name '*.test.ts' | sort)
node --import tsx --test --test-reporter=spec "${files[@]}"
