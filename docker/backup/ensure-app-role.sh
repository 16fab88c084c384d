#!/usr/bin/env bash
# Makes the database ready for the app's own role, every time the prod stack
# starts (compose service db-roles, before migrate): the role APP_DB_USER
# exists, can log in with APP_DB_PASSWORD, is no superuser and may create no
# role or database. It may connect to the database and owns its public schema
# and every table in it (tables an earlier version created as the superuser
# are handed over), so migrations run as it.
#
# The monitoring role MONITOR_DB_USER (postgres-exporter, compose profile
# monitoring) gets the same treatment: it logs in with MONITOR_DB_PASSWORD,
# holds pg_monitor (statistics, never table contents) and nothing else.
#
# The database itself belongs to the superuser (POSTGRES_USER), never to the
# app: a database's owner sets the search_path, and other settings, of every
# session in it, the superuser's included (docs/security.md, the role model).
# Earlier versions gave the app the database; this takes it back, and resets
# the database's search_path and every setting of the app's role, which that
# let the app change.
#
#   ensure-app-role.sh [DATABASE]   default: POSTGRES_DB
set -euo pipefail

# shellcheck source=docker/backup/read-secret.sh
source "$(dirname "$0")/read-secret.sh"

app="${APP_DB_USER:?APP_DB_USER is not set}"
monitor="${MONITOR_DB_USER:?MONITOR_DB_USER is not set}"
if [[ "$monitor" == "$app" || "$monitor" == "${POSTGRES_USER:?}" ]]; then
    echo "db-roles: MONITOR_DB_USER must be a role of its own, not APP_DB_USER or POSTGRES_USER ($monitor);" \
        "set another name in .env.prod" >&2
    exit 78
fi
database="${1:-${POSTGRES_DB:?}}"
PGPASSWORD="$(read_secret POSTGRES_PASSWORD)"
# A superuser's session: names resolve in pg_catalog only, whatever search_path
# the database or a role sets (PGOPTIONS outranks both), so no function or
# operator below can be one the app made in its schema. Functions are
# qualified as well.
export PGPASSWORD PGHOST="${PGHOST:-db}" PGUSER="${POSTGRES_USER:?}" PGDATABASE="$database"
export PGOPTIONS="-c search_path=pg_catalog"
# To psql through its environment, not its command line: `ps` shows every
# process's arguments to anyone on the host.
APP_ROLE_PASSWORD="$(read_secret APP_DB_PASSWORD)"
MONITOR_ROLE_PASSWORD="$(read_secret MONITOR_DB_PASSWORD)"
export APP_ROLE_PASSWORD MONITOR_ROLE_PASSWORD

psql -X -q -v ON_ERROR_STOP=1 -v app="$app" -v monitor="$monitor" <<'SQL'
\getenv password APP_ROLE_PASSWORD
\getenv monitor_password MONITOR_ROLE_PASSWORD
SELECT pg_catalog.format('CREATE ROLE %I LOGIN', :'app')
 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = :'app') \gexec
SELECT pg_catalog.format('CREATE ROLE %I LOGIN', :'monitor')
 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = :'monitor') \gexec
SELECT pg_catalog.format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS '
              'CONNECTION LIMIT 3 PASSWORD %L', :'monitor', :'monitor_password') \gexec
SELECT pg_catalog.format('ALTER ROLE %I RESET ALL', :'monitor') \gexec
SELECT pg_catalog.format('GRANT pg_monitor TO %I', :'monitor') \gexec
SELECT pg_catalog.format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD %L',
              :'app', :'password') \gexec
SELECT pg_catalog.format('ALTER ROLE %I RESET ALL', :'app') \gexec
SELECT pg_catalog.format('ALTER ROLE %I IN DATABASE %I RESET ALL', :'app', pg_catalog.current_database()) \gexec
SELECT pg_catalog.format('ALTER DATABASE %I OWNER TO CURRENT_USER', pg_catalog.current_database()) \gexec
SELECT pg_catalog.format('ALTER DATABASE %I RESET search_path', pg_catalog.current_database()) \gexec
SELECT pg_catalog.format('GRANT CONNECT ON DATABASE %I TO %I', pg_catalog.current_database(), :'app') \gexec
SELECT pg_catalog.format('ALTER SCHEMA public OWNER TO %I', :'app') \gexec
SELECT pg_catalog.format('ALTER %s public.%I OWNER TO %I',
              CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END, c.relname, :'app')
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')
   AND pg_catalog.pg_get_userbyid(c.relowner) <> :'app' \gexec
SQL
echo "db-roles: $app owns the public schema of $database and its tables, and is no superuser; $PGUSER owns the database;" \
    "$monitor reads statistics only"
