#!/usr/bin/env bash
# The storage benchmark (issue #5): set-up, then bench/storage-bench.ts with the given options:
#   --size-mb 300      MB of database (generated once into bench/out/, then reused)
#   --runs 3           rounds; figures are medians
#   --contenders LIST  of local-zstd (the baseline, required), s3-zstd, s3-zstd-age, local-gzip, local-zstd-age
#   --results FILE     where the report goes (default bench/RESULTS-storage.md)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/setup.sh"
cd "$LIFEBOAT_ROOT"
exec node bench/storage-bench.ts "$@"
