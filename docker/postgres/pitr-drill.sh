#!/usr/bin/env bash
# A restore drill: proves that the newest backup and the archive restore into
# a working cluster, without touching the live one. Run by `./inv db.drill`
# and by pitr-loop.sh every PITR_DRILL_EVERY_DAYS, in the pitr service.
#  1. pgBackRest's verify: every file in the repository against its checksum;
#  2. pitr-restore.sh: the newest backup plus every archived segment into a
#     throwaway cluster on the drill volume, replayed to the archive's end;
#  3. that cluster started on its own socket (no network, archiving off) ends
#     recovery; pg_amcheck checks every table and index;
#  4. what Django's readiness checks (a query answers; the migrations the live
#     database has are applied) and row counts per table beside the live
#     database's: the differences are the writes since the replayed point;
#  5. the result, one JSON object, goes to $drills/last.json (db.backups and
#     pitr's health read it) and $drills/history.jsonl.
# The throwaway cluster is removed whatever happens. Exit 0: passed; 1: failed
# (why is the last line printed, and in last.json).
set -euo pipefail

drills=/var/lib/postgresql/drill
cluster="$drills/cluster"
log=/tmp/drill-postgres.log
database="${POSTGRES_DB:-desideliver}"
live=/var/run/postgresql
export PGUSER="${POSTGRES_USER:?}" PGPORT=5432
started="$(date +%s)"
server="" backup="" replayed="" tables=0 rows=0 differences="{}" missing=0

cleanup() {
    local rc=$?
    if [[ -n "$server" ]]; then pg_ctl -D "$cluster" -m immediate stop >/dev/null 2>&1 || true; fi
    rm -rf -- "$cluster"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

record() {
    local result="$1" reason="$2"
    jq -cn --arg result "$result" --arg reason "$reason" --arg backup "$backup" --arg replayed "$replayed" \
        --argjson seconds "$(( $(date +%s) - started ))" --argjson tables "$tables" --argjson rows "$rows" \
        --argjson differences "$differences" --argjson missing "$missing" \
        '{finished: (now | todate), $result, $reason, $seconds, $backup, replayed_to: $replayed, $tables, $rows,
          differences_from_live: $differences, migrations_applied_since: $missing}' >"$drills/last.json.new"
    mv -- "$drills/last.json.new" "$drills/last.json"
    cat "$drills/last.json" >>"$drills/history.jsonl"
    # A year of weekly drills, and no more.
    tail -n 60 "$drills/history.jsonl" >"$drills/history.jsonl.new" && mv -- "$drills/history.jsonl.new" "$drills/history.jsonl"
}

fail() {
    echo "pitr-drill: FAILED: $*" >&2
    record failed "$*"
    exit 1
}

# One statement a side, so each side's counts are one snapshot: {"table": rows, ...}.
count_rows() {
    local host="$1" query
    query="$(psql -X -h "$host" -d "$database" -tA -c "SELECT string_agg(format(
        'SELECT %L AS t, count(*) AS n FROM public.%I', tablename, tablename), ' UNION ALL ' ORDER BY tablename)
        FROM pg_catalog.pg_tables WHERE schemaname = 'public'")"
    psql -X -h "$host" -d "$database" -tA -c "SELECT coalesce(json_object_agg(t, n ORDER BY t), '{}') FROM ($query) c"
}

migrations() {
    psql -X -h "$1" -d "$database" -tA -c "SELECT app || '.' || name FROM django_migrations ORDER BY 1"
}

# One drill at a time (the scheduled one and ./inv db.drill share the cluster directory).
exec 9>"$drills/.lock"
if ! flock -n 9; then
    echo "pitr-drill: a drill is running already; wait for it (./inv prod.logs -s pitr)" >&2
    trap - EXIT
    exit 2
fi
rm -rf -- "$cluster"
echo "pitr-drill: 1/4 verify every file in the repository"
if ! found="$(pgbackrest-verify.sh)"; then
    [[ -n "$found" ]] || fail "pgbackrest verify did not run (above)"
    fail "the repository holds damaged files: $(head -n 1 <<<"$found"); backups still valid:" \
        "$(tail -n 1 <<<"$found"); take a new full backup (docs/operations.md: a corrupted backup)"
fi
backup="$(pgbackrest-run.sh info --output=json | jq -r '[.[0].backup[].label] | last // ""')"
[[ -n "$backup" ]] || fail "the repository holds no backup yet"

echo "pitr-drill: 2/4 restore $backup and the archive into a throwaway cluster"
if ! pitr-restore.sh "$cluster" latest >/tmp/drill-restore.log 2>&1; then
    cat /tmp/drill-restore.log >&2
    why="$(grep -m 1 -oE "(ERROR|pitr-restore): .*" /tmp/drill-restore.log || tail -n 1 /tmp/drill-restore.log)"
    fail "restoring $backup and the archive failed: $why"
fi
replayed="$(sed -n 's/^reached [^ ]* //p' /tmp/drill-restore.log)"

echo "pitr-drill: 3/4 end recovery and check every table and index (pg_amcheck)"
PGBACKREST_PG1_PATH="$cluster" pg_ctl -D "$cluster" -l "$log" -w -t 600 start -o "-c listen_addresses='' \
    -c unix_socket_directories=/tmp -c archive_mode=off -c shared_buffers=32MB" >/dev/null \
    || { cat "$log" >&2; fail "the restored cluster did not start (its log is above)"; }
server=started
for _ in $(seq 600); do
    [[ "$(psql -X -h /tmp -d postgres -tA -c 'SELECT pg_catalog.pg_is_in_recovery()' 2>/dev/null)" == f ]] && break
    sleep 1
done
[[ "$(psql -X -h /tmp -d postgres -tA -c 'SELECT pg_catalog.pg_is_in_recovery()')" == f ]] \
    || fail "the restored cluster did not end recovery within 600 s"
if ! amcheck="$(pg_amcheck -h /tmp --all --install-missing --heapallindexed 2>&1)"; then
    echo "$amcheck" >&2
    fail "pg_amcheck found corruption: $(head -n 3 <<<"$amcheck" | paste -sd ' ' -)"
fi

echo "pitr-drill: 4/4 readiness checks and row counts beside the live database"
psql -X -h /tmp -d "$database" -tA -c 'SELECT 1' >/dev/null || fail "the restored database does not answer a query"
restored_counts="$(count_rows /tmp)" || fail "cannot count the restored database's rows"
tables="$(jq 'length' <<<"$restored_counts")"
rows="$(jq '[.[]] | add // 0' <<<"$restored_counts")"
if live_counts="$(count_rows "$live" 2>/dev/null)"; then
    differences="$(jq -c --argjson live "$live_counts" \
        'with_entries(select(.value != $live[.key]) | .value = {restored: .value, live: $live[.key]})' \
        <<<"$restored_counts")"
    missing="$(comm -13 <(migrations /tmp) <(migrations "$live") | grep -c . || true)"
fi
# Every migration the restored database has must be one the live database has: the reverse would mean a
# schema the running code never made.
extra="$(comm -23 <(migrations /tmp) <(migrations "$live" 2>/dev/null || migrations /tmp) | head -n 3 | paste -sd ' ' -)"
[[ -z "$extra" ]] || fail "the restored database has migrations the live one has not: $extra"

record passed ""
echo "pitr-drill: passed in $(( $(date +%s) - started ))s: $backup replayed to ${replayed:-?}; $tables tables," \
    "$rows rows; differences from live (writes since): $differences; migrations applied since: $missing"
