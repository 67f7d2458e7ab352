#!/usr/bin/env bash
# Runs Lifeboat on its embedded defaults: Temporal dev server with the Web UI, a local PostgreSQL
# with a demo database, the catalog, the worker and the API. Ctrl-C stops everything.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$LIFEBOAT_ROOT"
# The worker's and the API's memory settings (worker/memory.env: malloc arenas, V8 heap), inherited by them;
# NODE_OPTIONS and MALLOC_ARENA_MAX of your own win over them.
own_node_options="${NODE_OPTIONS:-}" own_arena_max="${MALLOC_ARENA_MAX:-}"
set -a && source worker/memory.env && set +a
export NODE_OPTIONS="$NODE_OPTIONS${own_node_options:+ $own_node_options}"
export MALLOC_ARENA_MAX="${own_arena_max:-$MALLOC_ARENA_MAX}"
exec node stack/start.ts "$@"
