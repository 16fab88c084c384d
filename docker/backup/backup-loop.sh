#!/usr/bin/env bash
# The scheduled backup service: a verified backup (backup-once.sh) whenever the
# newest regular backup is BACKUP_INTERVAL_SECONDS old, so restarts and deploys
# do not dump again. It holds the stack lock while it dumps (a restore, deploy
# or manual backup in progress makes it wait a minute). SIGTERM stops it at
# once, and the dump in progress removes its partial file.
# The health check reads /tmp/backup-status: "ok ...", "starting" or "failed: why";
# Prometheus reads backup.prom (textfile-metrics.sh): the newest backup's time and
# size, the interval, and whether the last scheduled one succeeded.
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

retry=$(( interval < 60 ? interval : 60 ))
loop=backup
# shellcheck source=docker/backup/background.sh
source "$(dirname "$0")/background.sh"
# shellcheck source=docker/backup/textfile-metrics.sh
source "$(dirname "$0")/textfile-metrics.sh"

# The newest backup's modification time (whole seconds) and size, or "0 0" when there is none.
newest_backup() {
    local newest at
    newest="$(find "$dir" -maxdepth 1 -name "desideliver-$BACKUP_ENV-*Z.dump" -printf '%T@ %s\n' | sort -n | tail -n 1)"
    newest="${newest:-0 0}" at="${newest%% *}"
    echo "${at%.*} ${newest##* }"
}

seconds_since_newest() {
    local at size
    read -r at size <<<"$(newest_backup)"
    echo $(( $(date +%s) - at ))
}

# The metrics of the backups, with the last scheduled run's result (1 or 0; none given: none yet).
report() {
    local at size
    read -r at size <<<"$(newest_backup)"
    publish backup <<EOF
# HELP desideliver_backup_newest_timestamp_seconds When the newest backup of this stack was written (0: none yet).
# TYPE desideliver_backup_newest_timestamp_seconds gauge
desideliver_backup_newest_timestamp_seconds $at
# HELP desideliver_backup_newest_size_bytes The newest backup's size.
# TYPE desideliver_backup_newest_size_bytes gauge
desideliver_backup_newest_size_bytes $size
# HELP desideliver_backup_interval_seconds BACKUP_INTERVAL_SECONDS: a backup is due this long after the newest.
# TYPE desideliver_backup_interval_seconds gauge
desideliver_backup_interval_seconds $interval
${1:+# HELP desideliver_backup_last_run_ok 1 when the last scheduled backup succeeded, 0 when it failed.
# TYPE desideliver_backup_last_run_ok gauge
desideliver_backup_last_run_ok $1}
EOF
}

echo "starting" >"$status"
report
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
        report 0
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
    succeeded=true
    background backup-once.sh || succeeded=false
    exec 9>&-
    if "$succeeded"; then
        echo "ok $(date -u +%s)" >"$status"
        report 1
    else
        echo "failed: the last scheduled backup failed; see this service's log" >"$status"
        report 0
        # Not at once: a database that is down would otherwise be dumped in a tight loop.
        echo "backup: retrying in ${retry}s" >&2
        background sleep "$retry" || true
    fi
done
