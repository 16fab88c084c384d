#!/usr/bin/env bash
# Scheduled backups for the prod stack: every BACKUP_INTERVAL_SECONDS, one
# verified dump into /backups, then retention. The same guarantees as
# `./inv db.backup`: written under .partial, read back in full, sha256 and
# metadata beside it, renamed last, pruned only after a success.
# The health check reads /tmp/backup-status: "ok ..." or "failed: why".
set -euo pipefail

interval="${BACKUP_INTERVAL_SECONDS:-86400}"
keep="${BACKUP_KEEP:-7}"
dir=/backups
status=/tmp/backup-status
export PGHOST=db PGUSER="${POSTGRES_USER}" PGDATABASE="${POSTGRES_DB}" PGPASSWORD="${POSTGRES_PASSWORD}"

fail() {
    echo "failed: $*" >"$status"
    echo "backup: FAILED: $*" >&2
}

backup_once() {
    local stamp name partial started size version migrations
    stamp="$(date -u +%Y%m%dT%H%M%SZ)"
    name="desideliver-prod-${stamp}.dump"
    partial="$dir/$name.partial"
    started="$(date +%s)"
    version="$(psql -X -tA -c 'SHOW server_version')" || { fail "cannot reach the database"; return 1; }
    migrations="$(psql -X -tA -c "SELECT coalesce(json_object_agg(app, name), '{}') FROM
        (SELECT app, max(name) AS name FROM django_migrations GROUP BY app) m" 2>/dev/null || echo '{}')"
    if ! pg_dump --format=custom --no-owner >"$partial"; then
        rm -f "$partial"; fail "could not write the dump to $dir (pg_dump or the write failed)"; return 1
    fi
    if ! pg_restore -f /dev/null "$partial"; then
        rm -f "$partial"; fail "the dump did not read back in full"; return 1
    fi
    size="$(stat -c %s "$partial")"
    (cd "$dir" && sha256sum "$name.partial" | sed "s/\.partial\$//") >"$dir/$name.sha256"
    printf '{"file": "%s", "environment": "prod", "database": "%s", "server_version": "%s", "migrations": %s, "size_bytes": %s, "duration_seconds": %s, "created_at": "%s", "scheduled": true}\n' \
        "$name" "$PGDATABASE" "$version" "$migrations" "$size" "$(($(date +%s) - started))" \
        "$(date -u +%Y-%m-%dT%H:%M:%S+00:00)" >"$dir/$name.json"
    mv "$partial" "$dir/$name"
    # Retention only after a success, never with keep=0 (keep all; `head -n -0`
    # would list every file); safety backups (-pre-restore) are not touched.
    [[ "$keep" -gt 0 ]] && find "$dir" -maxdepth 1 -name 'desideliver-prod-*Z.dump' | sort | head -n "-$keep" | while read -r old; do
        rm -f "$old" "$old.sha256" "$old.json"
        echo "backup: pruned $(basename "$old")"
    done
    echo "ok $name $(date -u +%s)" >"$status"
    echo "backup: wrote $name ($size bytes)"
}

echo "starting" >"$status"
echo "backup: every ${interval}s into $dir, keeping $keep"
while true; do
    backup_once || true
    sleep "$interval"
done
