#!/usr/bin/env bash
# The main job on a fresh machine: provision, bring up the stack, then plan and run the example
# dbt project end to end on DVT+ — models materialized in the warehouse database, tests
# executed, events streamed to this terminal, run_results.json stored — and print where to look.
#
# Uses Docker Compose when a Docker engine answers (and DVT_NATIVE is not 1), else the native
# stack. Exits non-zero when any part fails or the run does not complete.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/provision.sh
export PATH="$ROOT/.tools/bin:$ROOT/.tools/node/bin:$PATH"

if [[ "${DVT_NATIVE:-0}" != "1" ]] && docker info >/dev/null 2>&1; then
  echo "== Docker engine found: starting the Compose dev profile"
  [[ -f .env ]] || cp .env.example .env
  docker compose --profile dev up -d --build --wait
else
  echo "== no Docker engine (or DVT_NATIVE=1): starting the native stack"
  pnpm stack up
fi

echo "== preparing the example dbt project (dbt deps, seed, compile) against the warehouse database"
manifest="$(bash scripts/example-dbt.sh | tail -n 1)"

echo "== planning and running it on DVT+"
export DVT_API_URL="${DVT_API_URL:-http://localhost:${DVT_API_PORT:-8080}}"
# The source `legacy` is never loaded in the example, so it and everything reading it are left out.
scripts/dvt plan "$manifest" --project dbt-shop --exclude source:legacy+
scripts/dvt run "$manifest" --project dbt-shop --environment dev --exclude source:legacy+ --watch | tee .stack/main-job-run.log
run_id="$(grep -oE '^run [0-9a-f-]{36}' .stack/main-job-run.log | tail -n 1 | cut -d' ' -f2)"

run_results="$(scripts/dvt events "$run_id" --json | node -e '
  const lines = require("fs").readFileSync(0, "utf8").trim().split("\n");
  const last = JSON.parse(lines.at(-1));
  process.stdout.write(last.payload?.runResultsSha256 ?? "");
')"

echo
echo "== done. Where to look:"
echo "  api            $DVT_API_URL  (docs $DVT_API_URL/docs)"
echo "  this run       scripts/dvt status $run_id"
echo "  Temporal UI    http://localhost:${DVT_TEMPORAL_UI_PORT:-8088}/namespaces/default/workflows/$run_id"
echo "  run_results    $DVT_API_URL/v1/artifacts/$run_results  (dbt-compatible run_results.json)"
echo "  MinIO console  http://localhost:${DVT_MINIO_CONSOLE_PORT:-9001}  (dvt-minio / dvt-minio-dev-secret; bucket dvt-artifacts)"
echo "  warehouse      psql postgres://dvt_warehouse:dvt_warehouse@127.0.0.1:${DVT_PG_PORT:-5432}/warehouse  (schema dbt_shop)"
