#!/usr/bin/env bash
# One verified backup of the stack's database into $BACKUP_DIR: the project's
# only backup implementation. `./inv db.backup`, the safety backups of restore
# and deploy, and the scheduled service (backup-loop.sh) all run this script.
#
#   backup-once.sh [KIND]    KIND marks a safety backup: pre-restore, pre-deploy
#
# The dump is written as NAME.partial (0600), read back in full, its sha256 and
# metadata are written beside it, and only then does it get its final name.
# Any failure or SIGTERM removes what it wrote; nothing that looks like a
# finished backup is left half-written. Regular backups are then pruned
# (backup-prune.sh). The last line printed is "backup: wrote NAME ...".
set -euo pipefail
umask 077

env_name="${BACKUP_ENV:?BACKUP_ENV (dev or prod) is not set}"
kind="${1:-}"
dir="${BACKUP_DIR:-/backups}"
# shellcheck source=docker/backup/read-secret.sh
source "$(dirname "$0")/read-secret.sh"
PGPASSWORD="$(read_secret POSTGRES_PASSWORD)"
export PGHOST="${PGHOST:-db}" PGUSER="${POSTGRES_USER:?}" PGDATABASE="${POSTGRES_DB:?}" PGPASSWORD
# The superuser's sessions look names up in pg_catalog only, whatever search_path
# the database or a role sets (PGOPTIONS outranks both): no name in their SQL
# can be an object the app made in its schema. pg_dump sets an empty
# search_path itself and only copies tables out, which runs none of the app's
# code: the superuser bypasses row security, and only a superuser can create
# the base types whose output functions a copy calls.
export PGOPTIONS="-c search_path=pg_catalog"
# Who reads the applied migrations (below): the app's role, dev's superuser.
reader="${APP_DB_USER:-$PGUSER}" reader_password="$PGPASSWORD"
if [[ -n "${APP_DB_USER:-}" ]]; then reader_password="$(read_secret APP_DB_PASSWORD)"; fi
name="" partial="" child=""

fail() {
    echo "backup: FAILED: $*" >&2
    exit 1
}
cleanup() {
    [[ -n "$child" ]] && kill -TERM -- "-$child" 2>/dev/null
    [[ -n "$partial" ]] && rm -f -- "$partial" "$dir/$name.sha256.partial" "$dir/$name.json.partial"
    return 0
}
trap cleanup EXIT
trap 'echo "backup: interrupted; removed the partial dump" >&2; exit 143' TERM INT
trap 'fail "line $LINENO: $BASH_COMMAND"' ERR

[[ "$kind" =~ ^[a-z-]*$ ]] || fail "KIND must be letters and dashes (e.g. pre-restore), not '$kind'"
[[ -d "$dir" && -w "$dir" ]] || fail "$dir is not a writable directory"

version="$(psql -X -tA -c 'SHOW server_version' 2>&1)" || fail "cannot query the database: $version"
# The applied migrations, read as the app's role (APP_DB_USER) on a connection of
# its own, never the superuser: the app owns django_migrations, and whatever it
# made of it (a view over a function of its own, say) runs with the reader's
# privileges. A superuser's session that SETs a role would be no boundary: any
# function it runs may RESET it. Dev has no such role; its app is the superuser.
# The rows are the app's to choose: only names Django makes reach the metadata.
migrations='{}'
if rows="$(PGUSER="$reader" PGPASSWORD="$reader_password" PGOPTIONS="-c client_min_messages=error" \
        psql -X -tA -c 'SELECT app, max(name) FROM django_migrations GROUP BY app ORDER BY app' 2>&1)"; then
    migrations="$(awk -F'|' '$0 == "" { next }
        $0 !~ /^[A-Za-z0-9_]+[|][A-Za-z0-9_]+$/ { bad = 1; exit 1 }
        { json = json (json == "" ? "" : ", ") "\"" $1 "\": \"" $2 "\"" }
        END { if (bad) exit 1; print "{" json "}" }' <<<"$rows")" || {
        echo "backup: warning: django_migrations, as $reader reads it, holds names Django never makes; the metadata records no migrations" >&2
        migrations='{}'
    }
elif [[ "$rows" != *'relation "django_migrations" does not exist'* ]]; then
    echo "backup: warning: could not read the applied migrations as $reader; the metadata records none: $rows" >&2
fi

# Room for the dump: the last dump's size with a margin, else a quarter of the
# database (custom-format dumps are compressed: 11 MB for a 156 MB database).
last="$(find "$dir" -maxdepth 1 -name "desideliver-$env_name-*.dump" -printf '%s\n' | sort -n | tail -n 1)"
needed=$(( ${last:-0} * 3 / 2 ))
if [[ "$needed" -eq 0 ]]; then
    needed=$(( $(psql -X -tA -c 'SELECT pg_catalog.pg_database_size(pg_catalog.current_database())') / 4 ))
fi
free="$(df -P -B1 "$dir" | awk 'NR == 2 {print $4}')"
(( free >= needed )) || fail "$dir has $((free / 1000000)) MB free, the dump needs about $((needed / 1000000)) MB; free some space"

started="$(date +%s)"
while :; do
    name="desideliver-$env_name-$(date -u +%Y%m%dT%H%M%SZ)${kind:+-$kind}.dump"
    [[ -e "$dir/$name" ]] || break
    sleep 1
done
partial="$dir/$name.partial"

# One pass: the dump streams into its file and, at the same time, through a
# full read (truncation shows there; `pg_restore --list` alone misses it), so
# verifying costs no second read. In the background, in a process group of its
# own (set -m), so SIGTERM is handled at once and stops the whole pipeline.
# zstd level 1, not pg_dump's default gzip 6: measured on 1,000,000 rows it
# dumps in a third of the time, reads back seven times faster, and is 14%
# smaller (docs/performance.md). pg_dump has it from PostgreSQL 16 (the
# images run 17); an older client tools package gets gzip level 1.
compress=zstd:1
(( $(pg_dump --version | grep -oE '[0-9]+' | head -n 1) >= 16 )) || compress=1
set -m
{ pg_dump --format=custom --compress="$compress" --no-owner | tee "$partial" | pg_restore -f /dev/null; } & child=$!
wait "$child" || fail "the dump failed or did not read back in full (exit $?); no backup was written"
child=""
set +m

size="$(stat -c %s "$partial")"
digest="$(sha256sum "$partial" | cut -d' ' -f1)"
printf '%s  %s\n' "$digest" "$name" >"$dir/$name.sha256.partial"
printf '{"file": "%s", "environment": "%s", "kind": "%s", "database": "%s", "server_version": "%s", "migrations": %s, "size_bytes": %s, "sha256": "%s", "duration_seconds": %s, "created_at": "%s"}\n' \
    "$name" "$env_name" "${kind:-regular}" "$PGDATABASE" "$version" "$migrations" "$size" "$digest" \
    "$(($(date +%s) - started))" "$(date -u +%Y-%m-%dT%H:%M:%S+00:00)" >"$dir/$name.json.partial"
mv "$dir/$name.sha256.partial" "$dir/$name.sha256"
mv "$dir/$name.json.partial" "$dir/$name.json"
# Last: only a dump that was read back in full gets its final name.
mv "$partial" "$dir/$name"
partial=""

[[ -z "$kind" ]] && backup-prune.sh
echo "backup: wrote $name ($size bytes in $(($(date +%s) - started))s)"
