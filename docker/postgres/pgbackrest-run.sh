#!/usr/bin/env bash
# pgBackRest with what its configuration file must not hold: the repository's
# encryption key, read from its secret file (BACKUP_CIPHER_PASS_FILE) at each
# call, and the superuser's name. archive_command, restore_command and every
# ./inv db.* call run pgBackRest through this script.
set -euo pipefail
# shellcheck source=docker/backup/read-secret.sh
source "$(dirname "$0")/read-secret.sh"
PGBACKREST_REPO1_CIPHER_PASS="$(read_secret BACKUP_CIPHER_PASS)"
export PGBACKREST_REPO1_CIPHER_PASS PGBACKREST_STANZA=desideliver PGBACKREST_PG1_USER="${POSTGRES_USER:-postgres}"
exec pgbackrest "$@"
