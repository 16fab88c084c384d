#!/bin/sh
# Wait until the database accepts queries (not just an open port), then run
# the container's command as PID 1's child-less replacement.
set -eu

if [ "${WAIT_FOR_DB:-true}" = "true" ]; then
    python /app/src/manage.py wait_for_db --timeout "${DB_WAIT_TIMEOUT:-60}"
fi
exec "$@"
