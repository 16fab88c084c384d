#!/usr/bin/env bash
# pgBackRest's verify, read for what it found: every file of the repository
# (or of one backup set: --set=LABEL) against its checksum.
#
#   pgbackrest-verify.sh [--set=LABEL]
#
# Exit 0: every file checked is valid. Exit 1: damage; the report goes to
# stderr and two lines to stdout: the damaged files, then the backups that
# verified (or "none"). Exit 2: verify did not run.
# verify itself exits 0 whatever it finds: its report says "status: error" and
# its log names each bad file, so both are read here.
set -euo pipefail

if ! report="$(pgbackrest-run.sh verify --output=text --verbose "$@" 2>&1)"; then
    echo "pgbackrest-verify: verify did not run: $report" >&2
    exit 2
fi
grep -q "status: error" <<<"$report" || exit 0
echo "$report" >&2
damaged="$(grep -oE "(invalid [a-z]+|missing) '[^']+'" <<<"$report" | sort -u | head -n 5 | paste -sd ',' - || true)"
valid="$(grep -oE "backup: [^,]+, status: valid" <<<"$report" | cut -d' ' -f2 | tr -d , | paste -sd ' ' - || true)"
echo "${damaged:-see the verify report above}"
echo "${valid:-none}"
exit 1
