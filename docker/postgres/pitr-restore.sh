#!/usr/bin/env bash
# Restore the cluster beside the live one, to a point, and check it: the part
# of a point-in-time restore (./inv db.restore --to ...) that runs in prod's
# `pitr-restore` container, which mounts the database's volume.
#
#   pitr-restore.sh DIR latest|time|name [TARGET]
#   PITR_BACKUP=LABEL: from this backup set (default: pgBackRest's choice, the
#   newest that reaches the target)
#
# pgBackRest restores into DIR: relative, in the database's volume beside the
# live current/ (a restore); absolute, anywhere (pitr-drill.sh's); a scratch
# PostgreSQL (socket in /tmp, no network, archiving off) then replays the
# archive and stops at the target without ending recovery: paused at a time or
# named point, or as a standby at the end of the archive for `latest`. Ending
# recovery (a new timeline) is left to the live db service after the switch,
# which archives that timeline. Before stopping, the scratch server prints the
# point it reached and takes a restartpoint, so the live restart replays next
# to nothing.
# Exit 3: the archive ends before the target. Exit 4: not enough room. Exit 5:
# the backup set read is damaged; the newest earlier one that verifies is named.
# On any failure DIR is removed: nothing half-restored is left behind.
set -euo pipefail

dir="${1:?usage: pitr-restore.sh DIR latest|time|name [TARGET]}" kind="${2:?}" target="${3:-}"
data="$dir"
[[ "$dir" == /* ]] || data="/var/lib/postgresql/data/$dir"
volume="$(dirname "$data")"
log=/tmp/scratch-postgres.log
restore_log=/tmp/pgbackrest-restore.log
export PGHOST=/tmp PGPORT=5432 PGUSER="${POSTGRES_USER:?}" PGDATABASE=postgres
server=""
replay_seconds=1800

cleanup() {
    local rc=$?
    if [[ -n "$server" ]]; then pg_ctl -D "$data" -m immediate stop >/dev/null 2>&1 || true; fi
    if (( rc != 0 )); then rm -rf -- "$data"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# Exit 1 when fetching WAL from the archive failed (a segment there that cannot be read, or written:
# a full volume): replay stops as it does at the archive's end, and the cluster would silently miss
# what came after. pgBackRest reports a segment that is not in the archive at INFO, not as an ERROR.
fetch_failed() {
    local failed
    # The log's end: a fetch that failed once and then worked is no reason to stop.
    failed="$(tail -n 40 "$log" | grep -A 1 "ERROR: \[[0-9]*\]: unable to get" | tail -n 2 | tr -s ' ' | paste -sd ' ' - || true)"
    [[ -n "$failed" ]] || return 0
    echo "pitr-restore: replay stopped${lsn:+ at $lsn}: fetching a WAL segment from the archive fails: $failed" >&2
    exit 1
}

# Exit 3 when replay ran out of WAL before the target, naming the newest commit it found.
not_archived() {
    fetch_failed
    grep -q "recovery ended before configured recovery target was reached" "$log" || return 0
    local newest
    newest="$(sed -n 's/.*last completed transaction was at log time \(.*\)$/\1/p' "$log" | tail -n 1)"
    echo "pitr-restore: the archive ends before ${target}; its newest commit is at ${newest:-(none found)}." >&2
    exit 3
}

# Exit 5 when the restore failed on a backup set that verify finds damaged, naming the newest earlier
# set that verifies (the restore's own reads of a damaged file end in a decompression or checksum
# error that names neither the file nor a way out).
damaged_backup() {
    local set found label usable=""
    set="$(sed -n 's/.*restore backup set \([^,]*\),.*/\1/p' "$restore_log" | tail -n 1)"
    [[ -n "$set" ]] || return 0
    found="$(pgbackrest-verify.sh --set="$set" 2>/dev/null)" && return 0
    [[ -n "$found" ]] || return 0
    for label in $(jq -r --arg set "$set" '.[0].backup | map(.label) | .[:index($set)] | reverse | .[]' <<<"$info"); do
        if pgbackrest-verify.sh --set="$label" >/dev/null 2>&1; then usable="$label"; break; fi
    done
    echo "pitr-restore: backup $set is damaged: $(head -n 1 <<<"$found")." >&2
    if [[ -n "$usable" ]]; then
        echo "pitr-restore: the newest earlier backup that verifies is $usable: restore from it with" \
            "--backup $usable (the archive is replayed from there, so it takes longer)." >&2
    else
        echo "pitr-restore: no earlier backup verifies either; docs/operations.md: a corrupted backup." >&2
    fi
    exit 5
}

case "$kind" in
    latest) recovery=(--type=standby) ;;
    time | name) recovery=(--type="$kind" --target="${target:?a $kind target is required}" --target-action=pause) ;;
    *) echo "pitr-restore: unknown target kind '$kind'" >&2; exit 2 ;;
esac

info="$(pgbackrest-run.sh info --output=json)"
need="$(jq '[.[0].backup[].info.size] | max // 0 | . * 12 / 10 | floor' <<<"$info")"
free="$(df -P -B1 "$volume" | awk 'NR == 2 {print $4}')"
if (( free < need )); then
    echo "pitr-restore: not enough room: $((free / 1000000)) MB free in $volume; the restored" \
        "cluster needs about $((need / 1000000)) MB (120% of the largest backup). Free space or grow the volume." >&2
    exit 4
fi

echo "pitr-restore: restoring into $dir (${kind}${target:+ $target}${PITR_BACKUP:+, from backup $PITR_BACKUP})"
# The newest timeline: after an earlier restore the archive holds the old timeline past the point it
# branched from, and replaying that would make a cluster the live history cannot continue.
chosen=()
[[ -z "${PITR_BACKUP:-}" ]] || chosen=(--set="$PITR_BACKUP")
if ! pgbackrest-run.sh restore --pg1-path="$data" "${recovery[@]}" "${chosen[@]}" --target-timeline=latest \
    --recovery-option="restore_command=pgbackrest-run.sh archive-get %f \"%p\"" 2>&1 | tee "$restore_log"; then
    damaged_backup
    exit 1
fi

# pgBackRest checks pg1-path against the server's data directory: here the
# scratch one (the live server's own setting, current/, is the default).
# Not waited for: a standby accepts no connection before it is consistent, which takes as long as
# replaying the backup's own WAL, or forever when that cannot be fetched; the loop below watches.
PGBACKREST_PG1_PATH="$data" pg_ctl -D "$data" -l "$log" -W start -o "-c listen_addresses='' -c unix_socket_directories=/tmp \
    -c archive_mode=off -c wal_retrieve_retry_interval=1s" >/dev/null
server=started
sleep 1

# The archive's newest segment (timeline first, so the newest timeline's), and the newest one replay
# fetched from it (the server logs each).
newest_archived() { jq -r '[.[0].archive[].max] | max // ""' <<<"$info"; }
newest_restored() { grep -o 'restored log file "[0-9A-F]\{24\}"' "$log" | tail -n 1 | tr -dc '0-9A-F' || true; }
settled=0 last="" reached="" lsn=""
for _ in $(seq "$replay_seconds"); do
    if ! pg_ctl -D "$data" status >/dev/null 2>&1; then
        cat "$log" >&2
        server=""
        not_archived
        echo "pitr-restore: the scratch server stopped during recovery (its log is above)" >&2
        exit 1
    fi
    if [[ "$kind" != latest ]]; then
        if [[ "$(psql -X -tA -c 'SELECT pg_catalog.pg_get_wal_replay_pause_state()' 2>/dev/null)" == paused ]]; then
            reached=yes
            break
        fi
    else
        # Empty until the cluster is consistent (it refuses connections before that).
        lsn="$(psql -X -tA -c 'SELECT pg_catalog.pg_last_wal_replay_lsn()' 2>/dev/null || true)"
        restored="$(newest_restored)"
        if [[ "$lsn" == "$last" ]]; then settled=$((settled + 1)); else settled=0; fi
        last="$lsn"
        # Settled: replay has fetched the archive's last segment (on its newest timeline) and stopped
        # moving, or has not moved for 15 s (retrying every second: there is no more it can use)
        # and not because fetching fails.
        if [[ -n "$lsn" && $settled -ge 2 && -n "$restored" && ! "$restored" < "$(newest_archived)" ]]; then
            reached=yes
            break
        fi
        if [[ $settled -ge 15 ]]; then
            fetch_failed
            if [[ -n "$lsn" ]]; then
                reached=yes
                break
            fi
        fi
    fi
    sleep 1
done
if [[ -z "$reached" ]]; then
    tail -n 20 "$log" >&2
    echo "pitr-restore: replay did not reach the target within ${replay_seconds}s" >&2
    exit 1
fi

psql -X -tA -F ' ' -c "SELECT 'reached', pg_catalog.pg_last_wal_replay_lsn(),
    coalesce(pg_catalog.to_char(pg_catalog.pg_last_xact_replay_timestamp() AT TIME ZONE 'UTC',
    'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 'no transaction replayed')"
psql -X -v ON_ERROR_STOP=1 -q -c CHECKPOINT
pg_ctl -D "$data" -m fast -w stop >/dev/null
server=""
# The live server, started on this cluster after the switch, replays to the
# same point and ends recovery there itself (archiving is on there).
if [[ -f "$data/standby.signal" ]]; then
    rm -- "$data/standby.signal"
    touch "$data/recovery.signal"
fi
echo "recovery_target_action = 'promote'" >>"$data/postgresql.auto.conf"
echo "pitr-restore: $dir is ready to switch in"
