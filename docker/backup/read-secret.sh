#!/usr/bin/env bash
# Sourced by the backup image's scripts: read_secret NAME prints $NAME, or the
# contents of the file $NAME_FILE names (compose secrets in prod).
read_secret() {
    local file_var="${1}_FILE"
    if [[ -n "${!1:-}" ]]; then
        printf '%s' "${!1}"
    elif [[ -n "${!file_var:-}" ]]; then
        cat -- "${!file_var}"
    else
        echo "neither $1 nor $file_var is set" >&2
        return 78
    fi
}
