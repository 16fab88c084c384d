#!/usr/bin/env bash
# A fresh host key each start (its fingerprint is what the client pins), the
# client's public key from AUTHORIZED_KEY, then sshd in the foreground.
set -euo pipefail
: "${AUTHORIZED_KEY:?AUTHORIZED_KEY: the public key the repository client logs in with}"
[[ -f /etc/ssh/ssh_host_ed25519_key ]] || ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key
printf '%s\n' "$AUTHORIZED_KEY" >/home/pgbackrest/.ssh/authorized_keys
chown pgbackrest:pgbackrest /home/pgbackrest/.ssh/authorized_keys
chmod 0600 /home/pgbackrest/.ssh/authorized_keys
exec /usr/sbin/sshd -D -e
