#!/usr/bin/env bash
# pgBackRest with what its configuration file must not hold: the repository's
# encryption key, read from its secret file (BACKUP_CIPHER_PASS_FILE) at each
# call, the superuser's name, and the off-host repository (repo2) when
# PITR_OFFSITE is set. archive_command, restore_command and every ./inv db.*
# call run pgBackRest through this script, so all of them see both repositories.
set -euo pipefail
# shellcheck source=docker/backup/read-secret.sh
source "$(dirname "$0")/read-secret.sh"
PGBACKREST_REPO1_CIPHER_PASS="$(read_secret BACKUP_CIPHER_PASS)"
export PGBACKREST_REPO1_CIPHER_PASS PGBACKREST_STANZA=desideliver PGBACKREST_PG1_USER="${POSTGRES_USER:-postgres}"

# sftp://USER@HOST[:PORT]/ABSOLUTE/PATH: pgBackRest's own SFTP repository, encrypted with the same key,
# its host pinned by the SHA-256 of its host key (no trust on first use), with a retention of its own.
offsite_repository() {
    local offsite="$PITR_OFFSITE" user host port path
    if [[ ! "$offsite" =~ ^sftp://([A-Za-z0-9._-]+)@([A-Za-z0-9.-]+)(:([0-9]+))?(/[^[:space:]]+)$ ]]; then
        echo "pgbackrest-run: PITR_OFFSITE='$offsite' is not sftp://USER@HOST[:PORT]/ABSOLUTE/PATH" >&2
        return 1
    fi
    # Taken now: the next =~ below replaces BASH_REMATCH.
    user="${BASH_REMATCH[1]}" host="${BASH_REMATCH[2]}" port="${BASH_REMATCH[4]:-22}" path="${BASH_REMATCH[5]}"
    if [[ ! "${PITR_OFFSITE_FINGERPRINT:-}" =~ ^[0-9a-f]{64}$ ]]; then
        echo "pgbackrest-run: PITR_OFFSITE_FINGERPRINT must be the SHA-256 of the SFTP server's host key," \
            "64 hex digits (docs/operations.md: the off-host repository)" >&2
        return 1
    fi
    if ! grep -qs "PRIVATE KEY-----" "${OFFSITE_SSH_KEY_FILE:-}"; then
        echo "pgbackrest-run: PITR_OFFSITE is set but the offsite_ssh_key secret holds no private key (or" \
            "this user cannot read it); put the private key the SFTP server authorizes in SECRETS_DIR/offsite_ssh_key" >&2
        return 1
    fi
    export PGBACKREST_REPO2_TYPE=sftp \
        PGBACKREST_REPO2_SFTP_HOST_USER="$user" \
        PGBACKREST_REPO2_SFTP_HOST="$host" \
        PGBACKREST_REPO2_SFTP_HOST_PORT="$port" \
        PGBACKREST_REPO2_PATH="$path" \
        PGBACKREST_REPO2_SFTP_PRIVATE_KEY_FILE="$OFFSITE_SSH_KEY_FILE" \
        PGBACKREST_REPO2_SFTP_HOST_KEY_CHECK_TYPE=fingerprint \
        PGBACKREST_REPO2_SFTP_HOST_KEY_HASH_TYPE=sha256 \
        PGBACKREST_REPO2_SFTP_HOST_FINGERPRINT="$PITR_OFFSITE_FINGERPRINT" \
        PGBACKREST_REPO2_CIPHER_TYPE=aes-256-cbc \
        PGBACKREST_REPO2_CIPHER_PASS="$PGBACKREST_REPO1_CIPHER_PASS" \
        PGBACKREST_REPO2_RETENTION_FULL_TYPE=time \
        PGBACKREST_REPO2_RETENTION_FULL="${PITR_OFFSITE_RETENTION_DAYS:-14}"
}

# A broken off-host setting fails every command but archive-push: that one goes on into the local
# repository alone, so WAL keeps flowing under pgBackRest's queue bound (pitr reports the setting).
if [[ -n "${PITR_OFFSITE:-}" ]] && ! offsite_repository && [[ "${1:-}" != archive-push ]]; then
    exit 2
fi
exec pgbackrest "$@"
