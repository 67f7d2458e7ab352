#!/usr/bin/env bash
# The restore benchmark (issue #4): set-up, then bench/restore-bench.ts with the given options:
#   --size-mb 1100     MB of database (generated once into bench/out/, then reused)
#   --runs 3           rounds; figures are medians
#   --contenders LIST  of raw (the baseline, required), raw-pipe, run-restore, lifeboat-new, lifeboat-target
#   --results FILE     where the report goes (default bench/RESULTS-restore.md)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/setup.sh"
cd "$LIFEBOAT_ROOT"
exec node bench/restore-bench.ts "$@"
