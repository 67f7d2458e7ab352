#!/usr/bin/env bash
# Runs one benchmark after set-up: bash bench/run.sh NAME [options] (`npm run bench -- NAME …`), where NAME is
# backup (the default), restore, storage, retention or encryption-memory; it writes bench/out/NAME.json, and
# `node bench/render.ts bench/out/NAME.json` prints its tables. Options: --runs N, --contenders a,b,c, --out FILE,
# --size-mb N (backup: a list), backup's --compression, encryption-memory's --mib; see each file's top.
set -euo pipefail
name=backup
if [[ $# -gt 0 && $1 != -* ]]; then name=$1 && shift; fi
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/setup.sh"
cd "$LIFEBOAT_ROOT"
exec node --expose-gc "bench/$name.ts" "$@"
