#!/bin/sh
# One-shot job `temporal-schema` (image: temporalio/admin-tools). Sets up and migrates the
# schemas of Temporal's two databases with temporal-sql-tool. Both steps are idempotent:
# `setup-schema -v 0.0` skips a database whose schema is already newer, and `update-schema`
# applies only the versions not yet recorded. The databases and the role come from the
# db-setup job, so no `create` step runs here (it would need CREATEDB).
set -eu

: "${POSTGRES_SEEDS:?POSTGRES_SEEDS is required (the PostgreSQL host)}"
: "${POSTGRES_USER:?POSTGRES_USER is required (Temporal's database role)}"
: "${POSTGRES_PWD:?POSTGRES_PWD is required (the password of POSTGRES_USER)}"
DB_PORT="${DB_PORT:-5432}"
DBNAME="${DBNAME:-temporal}"
VISIBILITY_DBNAME="${VISIBILITY_DBNAME:-temporal_visibility}"
SCHEMA_ROOT="${SCHEMA_ROOT:-/etc/temporal/schema/postgresql/v12}"
# temporal-sql-tool reads the password from SQL_PASSWORD, which keeps it off the command line.
SQL_PASSWORD="$POSTGRES_PWD"
export SQL_PASSWORD

sql_tool() {
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" -u "$POSTGRES_USER" "$@"
}

for pair in "$DBNAME:temporal" "$VISIBILITY_DBNAME:visibility"; do
  db="${pair%%:*}"
  kind="${pair#*:}"
  echo "temporal-schema: ${db}: setting up and migrating the ${kind} schema"
  sql_tool --db "$db" setup-schema -v 0.0
  sql_tool --db "$db" update-schema -d "${SCHEMA_ROOT}/${kind}/versioned"
done
echo "temporal-schema: done"
