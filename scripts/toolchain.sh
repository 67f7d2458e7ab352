# Sourced by every project script: puts Node.js 24 LTS first on PATH, fetching it from the npm
# registry into .tools/ when the system Node is older, and the Temporal CLI installed by setup.sh.
# shellcheck shell=bash
LIFEBOAT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LIFEBOAT_TOOLS="$LIFEBOAT_ROOT/.tools"
LIFEBOAT_NODE_VERSION="24.21.0"
export LIFEBOAT_ROOT LIFEBOAT_TOOLS

node_major() { command -v node >/dev/null 2>&1 && node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

ensure_node() {
  local dir="$LIFEBOAT_TOOLS/node-v$LIFEBOAT_NODE_VERSION"
  if [ -x "$dir/bin/node" ]; then
    export PATH="$dir/bin:$PATH"
    return
  fi
  if [ "$(node_major)" -ge 24 ]; then return; fi
  local arch
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) echo "lifeboat: no Node.js 24 package for $(uname -m); install Node.js 24 yourself" >&2; return 1 ;;
  esac
  echo "lifeboat: system Node.js is $(node --version 2>/dev/null || echo missing); fetching Node.js $LIFEBOAT_NODE_VERSION from the npm registry" >&2
  local tmp
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "node-linux-$arch@$LIFEBOAT_NODE_VERSION" >/dev/null) || { rm -rf "$tmp"; return 1; }
  mkdir -p "$tmp/x" && tar -xzf "$tmp"/node-linux-*.tgz -C "$tmp/x"
  mkdir -p "$LIFEBOAT_TOOLS"
  rm -rf "$dir" && mv "$tmp/x/package" "$dir"
  rm -rf "$tmp"
  # The package ships node alone; npm and npx come from the system npm, which runs on any Node.
  export PATH="$dir/bin:$PATH"
}

ensure_node || return 1 2>/dev/null || exit 1
if [ -x "$LIFEBOAT_TOOLS/temporal/bin/temporal" ]; then
  export PATH="$LIFEBOAT_TOOLS/temporal/bin:$PATH"
fi
export PATH="$LIFEBOAT_ROOT/node_modules/.bin:$PATH"
