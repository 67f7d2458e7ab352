#!/usr/bin/env bash
# The whole test suite on a fresh machine: set-up, typecheck, lint, then every test against the real
# Temporal dev server and PostgreSQL that the test harness starts. Extra arguments go to vitest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$LIFEBOAT_ROOT"
npm run --silent typecheck
npm run --silent lint
exec vitest run "$@"
