#!/usr/bin/env bash
# Sourced by the scheduled loops (backup-loop.sh, pitr-loop.sh): `background
# CMD...` runs CMD as a child the loop waits for, so SIGTERM is handled at
# once; TERM or INT stops that child and exits 0. $loop names the loop in
# what it prints.
child=""

stop() {
    echo "${loop:-loop}: stopping"
    if [[ -n "$child" ]]; then kill -TERM "$child" 2>/dev/null || true; wait "$child" || true; fi
    exit 0
}
trap stop TERM INT

background() {
    "$@" & child=$!
    local rc=0
    wait "$child" || rc=$?
    child=""
    return "$rc"
}
