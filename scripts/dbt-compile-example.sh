#!/usr/bin/env bash
# Compiles examples/dbt-shop with the real dbt-core + dbt-postgres and records, from dbt itself,
# which nodes `dbt ls` selects for a list of selector expressions. Writes
#   packages/planner/test/fixtures/dbt-shop/manifest.json
#   packages/planner/test/fixtures/dbt-shop/selections.json
# The planner's tests compare their own selection with these lists.
#
# Needs a PostgreSQL (dbt compile opens a connection): defaults to the test server that
# `pnpm test` starts (127.0.0.1:55432, postgres/postgres). Override with DBT_HOST, DBT_PORT,
# DBT_USER, DBT_PASSWORD; DBT_DBNAME (default dvt_dbt_shop) is created when missing.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dbt="${DBT_BIN:-$repo/.tools/dbt/bin/dbt}"
psql="${PSQL_BIN:-/usr/lib/postgresql/15/bin/psql}"
out="$repo/packages/planner/test/fixtures/dbt-shop"

export DBT_HOST="${DBT_HOST:-127.0.0.1}" DBT_PORT="${DBT_PORT:-55432}"
export DBT_USER="${DBT_USER:-postgres}" DBT_PASSWORD="${DBT_PASSWORD:-postgres}"
export DBT_DBNAME="${DBT_DBNAME:-dvt_dbt_shop}" DBT_SCHEMA="${DBT_SCHEMA:-shop}"
# dbt would otherwise call home (usage statistics, version check); keep all traffic local.
export DBT_SEND_ANONYMOUS_USAGE_STATS=false DBT_VERSION_CHECK=false DBT_USE_COLORS=false

export PGPASSWORD="$DBT_PASSWORD"
exists="$("$psql" -h "$DBT_HOST" -p "$DBT_PORT" -U "$DBT_USER" -d postgres -Atc \
  "select 1 from pg_database where datname = '$DBT_DBNAME'")"
if [ "$exists" != "1" ]; then
  "$psql" -h "$DBT_HOST" -p "$DBT_PORT" -U "$DBT_USER" -d postgres -qc "create database \"$DBT_DBNAME\""
fi

# Work on a copy so target/, logs/, dbt_packages/ and package-lock.yml never land in the repo.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -R "$repo/examples/dbt-shop/." "$work/"
cd "$work"

run_dbt() { "$dbt" --quiet --no-send-anonymous-usage-stats "$@" --profiles-dir "$work" --project-dir "$work"; }

run_dbt deps
run_dbt compile
mkdir -p "$out"
cp target/manifest.json "$out/manifest.json"

# Each line: <name>|<--select value>|<--exclude value or empty>|<--resource-type values or empty>[|<--indirect-selection mode>]
selectors=(
  'plain-name|fct_orders||'
  'parents|+fct_orders||'
  'children|stg_orders+||'
  'parents-depth-1|1+dim_customers||'
  'children-depth-1|stg_order_lines+1||'
  'childrens-parents|@stg_orders||'
  'tag|tag:finance||'
  'tag-with-children|tag:staging+||'
  'path-folder|path:models/marts||'
  'path-file|path:models/staging/stg_orders.sql||'
  'resource-type-seed|resource_type:seed||'
  'package|package:shop_utils||'
  'package-this-models|package:this||model'
  'fqn-wildcard|fqn:dbt_shop.staging.*||'
  'name-wildcard|stg_*||'
  'config-materialized|config.materialized:table||'
  'source-children|source:legacy+||'
  'test-type-singular|test_type:singular||'
  'test-name|test_name:relationships||'
  'intersection|tag:staging,+fct_orders||'
  'intersection-of-graph-ops|+dim_customers,stg_orders+||'
  'union-one-arg|stg_customers stg_orders||'
  'union-with-intersection|tag:finance path:models/staging,config.materialized:view||'
  'exclude-plain|+dim_customers|stg_orders|'
  'exclude-graph-ops|+fct_daily_revenue|+stg_orders|'
  'exclude-tag-children|path:models|tag:staging+|'
  'versioned-all|dim_products||'
  'versioned-one|dim_products.v2||'
  'version-latest|version:latest||'
  'version-old-children|version:old+||'
  'version-prerelease|version:prerelease||'
  'version-none-models|version:none||model'
  'cautious-one-parent|stg_customers||test|cautious'
  'cautious-both-parents|dim_customers fct_orders||test|cautious'
  'cautious-intersection|+fct_orders,tag:finance+||test|cautious'
  'buildable-children|stg_orders+||test|buildable'
  'buildable-one-model|fct_orders||test|buildable'
  'empty-children|stg_orders+|||empty'
  'cautious-exclude|+fct_orders|dim_customers||cautious'
  'only-tests-of-model|fct_orders||test'
  'everything||tag:legacy|'
  'resource-types-model-seed|+fct_orders||model seed'
)

tmp="$work/selections.jsonl"
: >"$tmp"
for entry in "${selectors[@]}"; do
  IFS='|' read -r name select exclude types indirect <<<"$entry"
  args=(ls --output json --output-keys unique_id)
  [ -n "$indirect" ] && args+=(--indirect-selection "$indirect")
  [ -n "$select" ] && args+=(--select "$select")
  [ -n "$exclude" ] && args+=(--exclude "$exclude")
  if [ -n "$types" ]; then
    for t in $types; do args+=(--resource-type "$t"); done
  fi
  ids="$(run_dbt "${args[@]}" | sed -n 's/^{"unique_id": "\(.*\)"}$/\1/p' | sort | paste -sd ' ' -)"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$select" "$exclude" "$types" "$ids" "$indirect" >>"$tmp"
  echo "recorded $name"
done

node -e '
const fs = require("node:fs");
const [file, dest, version] = process.argv.slice(1);
const cases = fs.readFileSync(file, "utf8").trimEnd().split("\n").map((line) => {
  const [name, select, exclude, types, ids, indirect] = line.split("\t");
  return {
    name,
    select: select ? [select] : [],
    exclude: exclude ? [exclude] : [],
    resourceTypes: types ? types.split(" ") : [],
    ...(indirect ? { indirectSelection: indirect } : {}),
    expected: ids ? ids.split(" ") : [],
  };
});
const doc = { recordedWith: version, command: "dbt ls --output json --output-keys unique_id", cases };
fs.writeFileSync(dest, JSON.stringify(doc, null, 2) + "\n");
' "$tmp" "$out/selections.json" "$(node -p 'require(process.argv[1]).metadata.dbt_version' "$out/manifest.json")"
# The repository's `prettier --check .` covers these files too.
"$repo/node_modules/.bin/prettier" --log-level warn --write "$out/manifest.json" "$out/selections.json"
echo "wrote $out/manifest.json and $out/selections.json"
