#!/usr/bin/env bash
# Runs Lifeboat on its embedded defaults: Temporal dev server with the Web UI, a local PostgreSQL
# with a demo database, the catalog, the worker and the API. Ctrl-C stops everything.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$LIFEBOAT_ROOT"
exec node stack/start.ts "$@"
