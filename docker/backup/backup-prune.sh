#!/usr/bin/env bash
# Retention of regular backups by age, like pgBackRest's and borg's: keep the
# newest BACKUP_KEEP_LAST, the newest of each of the last BACKUP_KEEP_DAILY
# days and of each of the last BACKUP_KEEP_WEEKLY ISO weeks that have one.
# Restarts and repeated deploys add backups to today only, so they can never
# push older days out. Safety backups (-pre-restore, -pre-deploy) are counted
# apart: of each kind the newest BACKUP_KEEP_SAFETY stay, and so does every one
# younger than BACKUP_KEEP_DAILY days (0 for either: all stay). A pre-restore
# dump can be the only copy of what a restore replaced, so a burst of restores
# never pushes one out before the daily window has passed.
set -euo pipefail

env_name="${BACKUP_ENV:?BACKUP_ENV (dev or prod) is not set}"
dir="${BACKUP_DIR:-/backups}"
keep_last="${BACKUP_KEEP_LAST:-3}" keep_daily="${BACKUP_KEEP_DAILY:-7}" keep_weekly="${BACKUP_KEEP_WEEKLY:-4}"
keep_safety="${BACKUP_KEEP_SAFETY:-5}"
for setting in BACKUP_KEEP_LAST="$keep_last" BACKUP_KEEP_DAILY="$keep_daily" BACKUP_KEEP_WEEKLY="$keep_weekly" \
    BACKUP_KEEP_SAFETY="$keep_safety"; do
    if [[ ! "${setting#*=}" =~ ^[0-9]+$ ]]; then
        echo "backup: FAILED: ${setting%%=*} must be a whole number, not '${setting#*=}'" >&2
        exit 2
    fi
done
remove() {
    rm -f -- "$1" "$1.sha256" "$1.json"
    echo "backup: pruned ${1##*/}"
}

if (( keep_safety > 0 && keep_daily > 0 )); then
    # Names sort by time: desideliver-ENV-YYYYMMDDTHHMMSSZ-KIND.dump.
    young="desideliver-$env_name-$(date -u -d "$keep_daily days ago" +%Y%m%dT%H%M%SZ)"
    for kind in pre-deploy pre-restore; do
        while read -r path; do
            [[ "${path##*/}" < "$young" ]] && remove "$path"
        done < <(find "$dir" -maxdepth 1 -name "desideliver-$env_name-*Z-$kind.dump" | sort -r | tail -n +"$((keep_safety + 1))")
    done
fi

if (( keep_last + keep_daily + keep_weekly == 0 )); then
    echo "backup: retention is off (BACKUP_KEEP_LAST, _DAILY and _WEEKLY are 0): keeping all regular backups"
    exit 0
fi

declare -A days=() weeks=()
seen=0
while read -r path; do
    name="${path##*/}"
    day="${name#"desideliver-$env_name-"}"
    day="${day:0:8}"
    week="$(date -u -d "$day" +%G-%V)"
    keep=""
    (( seen < keep_last )) && keep=yes
    if [[ -z "${days[$day]:-}" && ${#days[@]} -lt $keep_daily ]]; then days[$day]=1; keep=yes; fi
    if [[ -z "${weeks[$week]:-}" && ${#weeks[@]} -lt $keep_weekly ]]; then weeks[$week]=1; keep=yes; fi
    seen=$((seen + 1))
    [[ -n "$keep" ]] && continue
    remove "$path"
done < <(find "$dir" -maxdepth 1 -name "desideliver-$env_name-*Z.dump" | sort -r)
