#!/usr/bin/env bash
# The main job on a fresh machine: provision, bring up the native stack (or Docker Compose
# where a Docker engine answers), then plan and run the example dbt project end to end.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/provision.sh
export PATH="$ROOT/.tools/bin:$ROOT/.tools/node/bin:$PATH"

pnpm stack up
