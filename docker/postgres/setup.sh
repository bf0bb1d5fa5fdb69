#!/usr/bin/env bash
# One-shot job `db-setup` (image: postgres, which has psql). Creates the login roles and the
# databases of the stack if they are missing and (re)sets the roles' passwords from the
# environment, so it is safe to run on every `up`, on a fresh volume or an existing one.
#
#   application role DVT_DB_USER (dvt): owns DVT_DB_NAME (dvt), the only role (with superusers)
#   that may connect to it
#   warehouse role WAREHOUSE_DB_USER (dvt_warehouse): owns WAREHOUSE_DB_NAME (warehouse); sql and
#   dbt steps run plan-supplied SQL as this role, so it has no access to the control plane
#   Temporal role TEMPORAL_DB_USER (temporal): owns TEMPORAL_DB_NAME (temporal) and
#   TEMPORAL_VISIBILITY_DB_NAME (temporal_visibility); Temporal's own schema tool then only
#   sets up and migrates schemas and never needs CREATEDB.
#
# Connection: the standard PGHOST / PGPORT / PGUSER / PGPASSWORD variables (a superuser).
set -euo pipefail

: "${DVT_DB_PASSWORD:?DVT_DB_PASSWORD is required (the password of the application role)}"
: "${WAREHOUSE_DB_PASSWORD:?WAREHOUSE_DB_PASSWORD is required (the password of the warehouse role)}"
: "${TEMPORAL_DB_PASSWORD:?TEMPORAL_DB_PASSWORD is required (the password of the Temporal role)}"
DVT_DB_USER="${DVT_DB_USER:-dvt}"
DVT_DB_NAME="${DVT_DB_NAME:-dvt}"
WAREHOUSE_DB_NAME="${WAREHOUSE_DB_NAME:-warehouse}"
WAREHOUSE_DB_USER="${WAREHOUSE_DB_USER:-dvt_warehouse}"
TEMPORAL_DB_USER="${TEMPORAL_DB_USER:-temporal}"
TEMPORAL_DB_NAME="${TEMPORAL_DB_NAME:-temporal}"
TEMPORAL_VISIBILITY_DB_NAME="${TEMPORAL_VISIBILITY_DB_NAME:-temporal_visibility}"

attempts="${DB_SETUP_ATTEMPTS:-30}"
until psql -qtAX -c 'select 1' >/dev/null 2>&1; do
  attempts=$((attempts - 1))
  if [ "$attempts" -le 0 ]; then
    echo "db-setup: PostgreSQL at ${PGHOST:-local socket}:${PGPORT:-5432} did not accept connections" >&2
    exit 1
  fi
  sleep 1
done

# psql's :'name' and :"name" quote the values as a literal and an identifier, so passwords and
# names reach the server safely. Nothing is echoed: the passwords stay out of the log.
psql -qtAX -v ON_ERROR_STOP=1 \
  -v dvt_user="$DVT_DB_USER" -v dvt_password="$DVT_DB_PASSWORD" \
  -v dvt_db="$DVT_DB_NAME" -v warehouse_db="$WAREHOUSE_DB_NAME" \
  -v warehouse_user="$WAREHOUSE_DB_USER" -v warehouse_password="$WAREHOUSE_DB_PASSWORD" \
  -v temporal_user="$TEMPORAL_DB_USER" -v temporal_password="$TEMPORAL_DB_PASSWORD" \
  -v temporal_db="$TEMPORAL_DB_NAME" -v temporal_visibility_db="$TEMPORAL_VISIBILITY_DB_NAME" \
  <<'SQL'
select format('create role %I login', :'dvt_user')
  where not exists (select 1 from pg_roles where rolname = :'dvt_user') \gexec
alter role :"dvt_user" login password :'dvt_password';
select format('create role %I login', :'warehouse_user')
  where not exists (select 1 from pg_roles where rolname = :'warehouse_user') \gexec
alter role :"warehouse_user" login password :'warehouse_password';
select format('create role %I login', :'temporal_user')
  where not exists (select 1 from pg_roles where rolname = :'temporal_user') \gexec
alter role :"temporal_user" login password :'temporal_password';

select format('create database %I owner %I', :'dvt_db', :'dvt_user')
  where not exists (select 1 from pg_database where datname = :'dvt_db') \gexec
select format('create database %I owner %I', :'warehouse_db', :'warehouse_user')
  where not exists (select 1 from pg_database where datname = :'warehouse_db') \gexec
alter database :"warehouse_db" owner to :"warehouse_user";
revoke connect, temporary on database :"dvt_db" from public;
grant connect, temporary on database :"dvt_db" to :"dvt_user";
select format('create database %I owner %I', :'temporal_db', :'temporal_user')
  where not exists (select 1 from pg_database where datname = :'temporal_db') \gexec
select format('create database %I owner %I', :'temporal_visibility_db', :'temporal_user')
  where not exists (select 1 from pg_database where datname = :'temporal_visibility_db') \gexec
SQL

echo "db-setup: roles ${DVT_DB_USER}, ${WAREHOUSE_DB_USER}, ${TEMPORAL_DB_USER} and databases ${DVT_DB_NAME}, ${WAREHOUSE_DB_NAME}, ${TEMPORAL_DB_NAME}, ${TEMPORAL_VISIBILITY_DB_NAME} are in place"
