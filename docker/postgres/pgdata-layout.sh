#!/usr/bin/env bash
# The database image's entrypoint, before the official one (other commands,
# such as pitr-loop.sh, run as they are). The cluster lives in
# $PGDATA (current/) inside the volume, so a point-in-time restore can build
# a new cluster beside it (restore-*) and switch by renaming directories.
# - A volume from before this layout (the cluster at its top) is moved into
#   current/ by renames inside the volume; an interrupted move resumes.
# - A volume that holds clusters but no current/ (a switch interrupted between
#   its two renames) is refused: the official entrypoint would make an empty
#   cluster there and the shop would start on it.
set -euo pipefail
if [[ "${1:-}" != postgres ]]; then exec "$@"; fi
volume="$(dirname "$PGDATA")"
staging="$volume/.moving"

if [[ ! -e "$PGDATA" && ( -s "$volume/PG_VERSION" || -d "$staging" ) ]]; then
    echo "pgdata-layout: moving the cluster at the top of $volume into $PGDATA"
    mkdir -p -m 0700 "$staging"
    find "$volume" -mindepth 1 -maxdepth 1 ! -name .moving ! -name lost+found -exec mv -t "$staging" -- {} +
    mv -T "$staging" "$PGDATA"
fi
if [[ ! -e "$PGDATA" ]]; then
    others="$(find "$volume" -mindepth 1 -maxdepth 1 ! -name lost+found -printf '%f ')"
    if [[ -n "$others" ]]; then
        echo "pgdata-layout: REFUSED: $volume holds $others but no $(basename "$PGDATA")/: a restore's switch" \
            "was interrupted. Rename the cluster to keep (normally previous-*) to $(basename "$PGDATA")," \
            "or run ./inv db.restore again; starting here would create an empty database." >&2
        exit 1
    fi
fi
# pitr-restore (as postgres) builds the next cluster beside this one.
chown postgres:postgres "$volume"
chmod 0700 "$volume"
exec docker-entrypoint.sh "$@"
