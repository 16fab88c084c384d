#!/usr/bin/env bash
# The point-in-time recovery service (prod's `pitr`). The database pushes its
# WAL into the pgBackRest repository itself (archive_command); this service
# - creates the stanza (idempotent) once the database answers,
# - takes a full backup when the newest is PITR_FULL_EVERY_DAYS old (or none
#   exists), and a differential one when the newest backup of any kind is
#   PITR_DIFF_EVERY_HOURS old; pgBackRest then expires what the retention
#   window (PGBACKREST_REPO1_RETENTION_FULL days) no longer needs; the same
#   for the off-host repository (repo2) when PITR_OFFSITE is set, on its own
#   (a backup there copies the cluster again, over SFTP),
# - closes the WAL segment being written once the last archived one is
#   PITR_ARCHIVE_TIMEOUT seconds old (checked every 5 s): PostgreSQL's own
#   archive_timeout, also set, never switched a segment on this machine
#   (measured on PostgreSQL 17.12), and the most a lost volume loses is this,
# - watches archiving every PITR_CHECK_SECONDS: failing pushes make it
#   unhealthy within a minute, and healthy again once WAL flows,
# - runs a restore drill (pitr-drill.sh) once the last one, or the oldest
#   backup when none ran, is PITR_DRILL_EVERY_DAYS old; unhealthy while the
#   last drill failed.
# The health check reads /tmp/backup-status ("ok ...", "starting", "failed: why"),
# Prometheus pitr.prom (textfile-metrics.sh: that state, each repository's newest
# backup, the last drill).
set -euo pipefail

full_days="${PITR_FULL_EVERY_DAYS:-7}"
diff_hours="${PITR_DIFF_EVERY_HOURS:-24}"
every="${PITR_CHECK_SECONDS:-30}"
archive_every="${PITR_ARCHIVE_TIMEOUT:-60}"
drill_every="${PITR_DRILL_EVERY_DAYS:-7}"
last_drill=/var/lib/postgresql/drill/last.json
status=/tmp/backup-status
export PGHOST=/var/run/postgresql PGUSER="${POSTGRES_USER:?}" PGDATABASE=postgres
for name in full_days diff_hours every archive_every drill_every; do
    if [[ ! "${!name}" =~ ^[1-9][0-9]*$ ]]; then
        echo "failed: a PITR_* setting is not a whole number" >"$status"
        echo "pitr: FAILED: PITR_FULL_EVERY_DAYS, PITR_DIFF_EVERY_HOURS, PITR_CHECK_SECONDS," \
            "PITR_ARCHIVE_TIMEOUT and PITR_DRILL_EVERY_DAYS are whole numbers (got ${!name} for $name)" >&2
        exit 2
    fi
done

loop=pitr
# shellcheck source=docker/backup/background.sh
source "$(dirname "$0")/background.sh"
# shellcheck source=docker/backup/textfile-metrics.sh
source "$(dirname "$0")/textfile-metrics.sh"

repos=(1)
[[ -z "${PITR_OFFSITE:-}" ]] || repos+=(2)
declare -A repo_name=([1]="local repository" [2]="off-host repository (PITR_OFFSITE)")
declare -A repo_label=([1]=local [2]=offsite)
# When each repository's newest backup ended (epoch seconds), as of the last read of pgBackRest's info.
declare -A newest_stop=()

# What a failing status line is about, in one stable word: the label of a series whose
# `for:` must not restart each time the line's details (counts, times) change.
problem_of() {
    case "$1" in
        *"WAL archiving"*) echo archiving ;;
        *stanza*) echo stanza ;;
        *"read the repositories"*) echo repository ;;
        *drill*) echo drill ;;
        *backup*) echo backup ;;
        *) echo other ;;
    esac
}

# The status line (given) as metrics: failing or not and at what, the repositories' newest backups, the last drill.
report() {
    local ok=1 problem="" repo drill
    if [[ "$1" == failed* ]]; then ok=0 problem="$(problem_of "$1")"; fi
    drill="$(jq -r '"\(.finished | fromdateiso8601) \(if .result == "failed" then 0 else 1 end)"' "$last_drill" 2>/dev/null)" \
        || drill=""
    {
        echo "# HELP desideliver_pitr_ok 0 while pitr's health check fails (problem: at what), else 1."
        echo "# TYPE desideliver_pitr_ok gauge"
        echo "desideliver_pitr_ok{problem=\"$problem\"} $ok"
        echo "# HELP desideliver_pitr_newest_backup_timestamp_seconds When the newest backup in a repository ended."
        echo "# TYPE desideliver_pitr_newest_backup_timestamp_seconds gauge"
        for repo in "${!newest_stop[@]}"; do
            echo "desideliver_pitr_newest_backup_timestamp_seconds{repository=\"${repo_label[$repo]}\"} ${newest_stop[$repo]}"
        done
        echo "# HELP desideliver_pitr_backup_interval_seconds PITR_DIFF_EVERY_HOURS: a backup is due this long after the newest."
        echo "# TYPE desideliver_pitr_backup_interval_seconds gauge"
        echo "desideliver_pitr_backup_interval_seconds $(( diff_hours * 3600 ))"
        if [[ -n "$drill" ]]; then
            echo "# HELP desideliver_pitr_last_drill_timestamp_seconds When the last restore drill finished."
            echo "# TYPE desideliver_pitr_last_drill_timestamp_seconds gauge"
            echo "desideliver_pitr_last_drill_timestamp_seconds ${drill% *}"
            echo "# HELP desideliver_pitr_last_drill_ok 1 when the last restore drill passed, 0 when it failed."
            echo "# TYPE desideliver_pitr_last_drill_ok gauge"
            echo "desideliver_pitr_last_drill_ok ${drill#* }"
        fi
    } | publish pitr
}

# The words given, as one line (long messages are written in parts).
set_status() {
    local line="$*"
    [[ "$(cat "$status" 2>/dev/null)" == "$line" ]] || echo "pitr: $line"
    echo "$line" >"$status"
    report "$line"
}

# Seconds since the newest backup of a type (full, or any: "") in a repository, read from pgBackRest's
# info (JSON, given), or a large number when there is none.
backup_age() {
    local stop
    stop="$(jq -r --arg type "$2" --argjson repo "$3" '[.[0].backup[]
        | select(($type == "" or .type == $type) and .database."repo-key" == $repo) | .timestamp.stop]
        | max // 0' <<<"$1")"
    echo $(( $(date +%s) - stop ))
}

# Seconds since the last drill finished, or since the oldest backup ended when none has run.
drill_age() {
    local since
    since="$(jq -r '.finished | fromdateiso8601' "$last_drill" 2>/dev/null)" \
        || since="$(pgbackrest-run.sh info --output=json | jq -r '[.[0].backup[].timestamp.stop] | min // 0')"
    echo $(( $(date +%s) - since ))
}

# "failed: ..." while the last push failed after the last success, else "".
archive_problem() {
    psql -X -tA -F ' ' -c "SELECT failed_count, last_failed_wal,
        coalesce(last_failed_time > coalesce(last_archived_time, 'epoch'), false),
        coalesce(to_char(last_failed_time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), '')
        FROM pg_catalog.pg_stat_archiver" | {
        read -r count wal failing when || true
        if [[ "$failing" == t ]]; then
            echo "failed: WAL archiving fails ($count failures; $wal at $when UTC): is the repository full" \
                "or unwritable${PITR_OFFSITE:+, or the off-host one unreachable}? See ./inv db.backups and the" \
                "db service's log"
        fi
    }
}

set_status starting
echo "pitr: full backup every ${full_days}d, differential every ${diff_hours}h, archive checked every ${every}s"
until pg_isready -q; do background sleep 2 || true; done
# The local repository's stanza must not wait for the off-host one: created alone when both fail
# (offsite_stanza_missing retries the off-host one).
until background pgbackrest-run.sh stanza-create || PITR_OFFSITE="" background pgbackrest-run.sh stanza-create; do
    set_status "failed: stanza-create failed (see this service's log); retrying in 60s"
    background sleep 60 || true
done

# Closes the current segment when the newest archived one is archive_every old (a no-op when nothing
# was written since the last switch); not while pushes fail, which would only pile segments up.
switch_if_due() {
    psql -X -q -tA -c "SELECT pg_catalog.pg_switch_wal() FROM pg_catalog.pg_stat_archiver
        WHERE coalesce(extract(epoch FROM pg_catalog.now() - last_archived_time), $archive_every) >= $archive_every
        AND coalesce(last_failed_time < last_archived_time, last_failed_time IS NULL)" \
        >/dev/null 2>&1 || true
}

# Runs a command as the loop's child while closing WAL segments on time: a long backup (a full one
# over SFTP) must not stretch what a lost volume loses.
while_switching() {
    "$@" & child=$!
    while kill -0 "$child" 2>/dev/null; do switch_if_due; sleep 1; done
    local rc=0
    wait "$child" || rc=$?
    child=""
    return "$rc"
}

# Until it worked once: the off-host repository's stanza. Archiving into it fails without one, and
# the local stanza was made without waiting for it.
offsite_stanza=""
offsite_stanza_missing() {
    [[ -n "${PITR_OFFSITE:-}" && -z "$offsite_stanza" ]] || return 1
    if background pgbackrest-run.sh stanza-create; then offsite_stanza=made; return 1; fi
}

# Takes each repository's backup that is due; sets `healthy` and `type` (what ran, if anything).
# Returns 1, with the status set, when one failed or a repository cannot be read.
backups_due() {
    local info repo age_full age_any due
    healthy="ok archiving" type=""
    # Read once: with an off-host repository every info call is a round trip to it.
    if ! info="$(pgbackrest-run.sh info --output=json)"; then
        set_status "failed: cannot read the repositories (pgbackrest info); see this service's log"
        return 1
    fi
    for repo in "${repos[@]}"; do
        age_full="$(backup_age "$info" full "$repo")" age_any="$(backup_age "$info" "" "$repo")"
        newest_stop[$repo]=$(( $(date +%s) - age_any )) due=""
        if (( age_full >= full_days * 86400 )); then due=full
        elif (( age_any >= diff_hours * 3600 )); then due=diff
        fi
        healthy+="; repo$repo's newest backup ${age_any}s old"
        [[ -n "$due" ]] || continue
        if ! while_switching pgbackrest-run.sh backup --repo="$repo" --type="$due"; then
            set_status "failed: the $due backup to the ${repo_name[$repo]} failed; see this service's log" \
                "(next try in 5 minutes)"
            return 1
        fi
        type="$due" healthy+=" ($due backup taken at $(date -u +%Y-%m-%dT%H:%M:%SZ))"
        newest_stop[$repo]="$(date +%s)"
    done
}

next_check=0 drill_pid=""
while :; do
    switch_if_due
    if (( $(date +%s) >= next_check )); then
        if [[ "$(psql -X -tA -c 'SHOW archive_mode' 2>/dev/null)" == off ]]; then
            set_status "failed: the database runs without WAL archiving (started before point-in-time recovery was set up?); restart it once: ./inv prod.up"
        elif offsite_stanza_missing; then
            set_status "failed: cannot create the stanza in the off-host repository (PITR_OFFSITE): see this" \
                "service's log (retried every ${every}s)"
        elif problem="$(archive_problem)" && [[ -n "$problem" ]]; then
            set_status "$problem"
        elif ! backups_due; then
            next_check=$(( $(date +%s) + 300 ))  # WAL switches go on meanwhile
            continue
        else
            # Beside the loop, not in it: switching WAL must go on during a long drill.
            if ! kill -0 "${drill_pid:-0}" 2>/dev/null && (( $(drill_age) >= drill_every * 86400 )); then
                pitr-drill.sh & drill_pid=$!
            fi
            drill="$(jq -r 'select(.result == "failed") | .reason' "$last_drill" 2>/dev/null || true)"
            if [[ -n "$drill" ]]; then
                set_status "failed: the last restore drill failed: $drill; once fixed, ./inv db.drill --env prod"
            elif [[ -n "$type" || "$(cat "$status")" != ok* ]]; then
                set_status "$healthy"
            fi
        fi
        report "$(cat "$status")"  # a drill that ended since, too
        next_check=$(( $(date +%s) + every ))
    fi
    background sleep 5 || true
done
