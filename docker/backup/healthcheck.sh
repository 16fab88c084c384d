#!/usr/bin/env bash
# Healthy while the last scheduled backup succeeded (or none has run yet).
set -euo pipefail
state="$(cat /tmp/backup-status 2>/dev/null || echo missing)"
case "$state" in
    ok*|starting) exit 0 ;;
    *) echo "$state"; exit 1 ;;
esac
