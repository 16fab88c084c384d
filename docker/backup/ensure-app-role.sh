#!/usr/bin/env bash
# Makes the database ready for the app's own role, every time the prod stack
# starts (compose service db-roles, before migrate): the role APP_DB_USER
# exists, can log in with APP_DB_PASSWORD, is no superuser and may create no
# role or database, and owns the database, its public schema and every table
# in it (tables an earlier version created as the superuser are handed over).
# The app, the worker and migrations connect as that role; the superuser
# (POSTGRES_USER) is left to initdb, backups and restores.
#
#   ensure-app-role.sh [DATABASE]   default: POSTGRES_DB
set -euo pipefail

# shellcheck source=docker/backup/read-secret.sh
source "$(dirname "$0")/read-secret.sh"

app="${APP_DB_USER:?APP_DB_USER is not set}"
database="${1:-${POSTGRES_DB:?}}"
PGPASSWORD="$(read_secret POSTGRES_PASSWORD)"
export PGPASSWORD PGHOST="${PGHOST:-db}" PGUSER="${POSTGRES_USER:?}" PGDATABASE="$database"
password="$(read_secret APP_DB_PASSWORD)"

psql -X -q -v ON_ERROR_STOP=1 -v app="$app" -v password="$password" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'app')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD %L',
              :'app', :'password') \gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', current_database(), :'app') \gexec
SELECT format('ALTER SCHEMA public OWNER TO %I', :'app') \gexec
SELECT format('ALTER %s public.%I OWNER TO %I',
              CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END, c.relname, :'app')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm') AND pg_get_userbyid(c.relowner) <> :'app' \gexec
SQL
echo "db-roles: $app owns $database and its tables; it is no superuser"
