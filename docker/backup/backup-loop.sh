#!/usr/bin/env bash
# The scheduled backup service: a verified backup (backup-once.sh) whenever the
# newest regular backup is BACKUP_INTERVAL_SECONDS old, so restarts and deploys
# do not dump again. It holds the stack lock while it dumps (a restore, deploy
# or manual backup in progress makes it wait a minute). SIGTERM stops it at
# once, and the dump in progress removes its partial file.
# The health check reads /tmp/backup-status: "ok ...", "starting" or "failed: why".
set -euo pipefail

interval="${BACKUP_INTERVAL_SECONDS:-86400}"
dir="${BACKUP_DIR:-/backups}"
lock="$dir/.lock-${BACKUP_ENV:?BACKUP_ENV (dev or prod) is not set}"
status=/tmp/backup-status

if [[ ! "$interval" =~ ^[1-9][0-9]*$ ]]; then
    echo "failed: BACKUP_INTERVAL_SECONDS must be a whole number of seconds" >"$status"
    echo "backup: FAILED: BACKUP_INTERVAL_SECONDS must be a whole number of seconds, not '$interval'" >&2
    exit 2
fi

loop=backup
# shellcheck source=docker/backup/background.sh
source "$(dirname "$0")/background.sh"

seconds_since_newest() {
    local newest
    newest="$(find "$dir" -maxdepth 1 -name "desideliver-$BACKUP_ENV-*Z.dump" -printf '%T@\n' | sort -n | tail -n 1)"
    newest="${newest:-0}"
    echo $(( $(date +%s) - ${newest%.*} ))
}

echo "starting" >"$status"
echo "backup: one verified backup every ${interval}s into $dir"
while :; do
    age="$(seconds_since_newest)"
    if (( age < interval )); then
        echo "backup: the newest backup is ${age}s old; the next one in $((interval - age))s"
        background sleep "$((interval - age))" || true
        continue
    fi
    if ! exec 9>>"$lock"; then
        echo "failed: cannot open the lock file $lock" >"$status"
        echo "backup: FAILED: cannot open the lock file $lock; is $dir writable by uid $(id -u)?" >&2
        background sleep 60 || true
        continue
    fi
    if ! flock -n 9; then
        echo "backup: skipped: $(cat "$lock" 2>/dev/null || echo another operation) holds the stack lock; retrying in 60s"
        exec 9>&-
        background sleep 60 || true
        continue
    fi
    echo "the scheduled backup service (since $(date -u +%Y-%m-%dT%H:%M:%SZ))" >"$lock"
    if background backup-once.sh; then
        echo "ok $(date -u +%s)" >"$status"
    else
        echo "failed: the last scheduled backup failed; see this service's log" >"$status"
    fi
    exec 9>&-
done
