#!/usr/bin/env bash
# The backup benchmark (`npm run bench`): set-up, then bench/backup-bench.ts with the given options:
#   --sizes 300,1100   MB of database at each size (generated once into bench/out/, then reused)
#   --runs 3           rounds per size; figures are medians
#   --compression zstd the benchmark target's archive compression (zstd, gzip, none; default: Lifeboat's)
#   --results FILE     where the report goes (default bench/RESULTS.md)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/setup.sh"
cd "$LIFEBOAT_ROOT"
exec node bench/backup-bench.ts "$@"
