#!/usr/bin/env bash
# Prepares the example dbt project (examples/dbt-shop) against a warehouse database: a work copy
# outside the repository, `dbt deps`, `dbt seed` (DVT+ does not load seeds; it assumes them
# loaded) and `dbt compile`. Prints the path of the compiled manifest.json on its last line.
#
# Connection from DBT_HOST, DBT_PORT, DBT_USER, DBT_PASSWORD, DBT_DBNAME, DBT_SCHEMA; defaults
# are the native stack's warehouse database. Work folder: DVT_DBT_WORK (default .stack/dbt-shop).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dbt="$ROOT/.tools/dbt/bin/dbt"
[[ -x "$dbt" ]] || { echo "dbt not found at $dbt; run: bash scripts/provision.sh" >&2; exit 1; }

export DBT_HOST="${DBT_HOST:-127.0.0.1}" DBT_PORT="${DBT_PORT:-${DVT_PG_PORT:-5432}}"
export DBT_USER="${DBT_USER:-dvt_warehouse}" DBT_PASSWORD="${DBT_PASSWORD:-dvt_warehouse}"
export DBT_DBNAME="${DBT_DBNAME:-warehouse}" DBT_SCHEMA="${DBT_SCHEMA:-dbt_shop}"
# dbt would otherwise call home (usage statistics, version check); keep all traffic local.
export DBT_SEND_ANONYMOUS_USAGE_STATS=false DBT_VERSION_CHECK=false DBT_USE_COLORS=false

work="${DVT_DBT_WORK:-$ROOT/.stack/dbt-shop}"
rm -rf "$work" && mkdir -p "$work"
cp -R "$ROOT/examples/dbt-shop/." "$work/"
run_dbt() { "$dbt" --quiet --no-send-anonymous-usage-stats "$@" --profiles-dir "$work" --project-dir "$work"; }

run_dbt deps >&2
run_dbt seed >&2
run_dbt compile >&2
echo "$work/target/manifest.json"
