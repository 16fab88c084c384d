#!/usr/bin/env bash
# Sourced by the scheduled loops (backup-loop.sh, pitr-loop.sh): `publish NAME`
# writes its standard input, metrics in Prometheus's text format, to
# $METRICS_DIR/NAME.prom for node-exporter's textfile collector (compose/prod,
# profile monitoring). Written beside it and renamed, so a scrape never reads
# half a file. Where the directory is missing or read-only (a one-off run, the
# dev stack) nothing is written; a failed write is reported, never fatal.
publish() {
    local dir="${METRICS_DIR:-/var/lib/desideliver/metrics}"
    if [[ ! -d "$dir" || ! -w "$dir" ]]; then
        cat >/dev/null
        return 0
    fi
    if ! { cat >"$dir/.$1.prom.partial" && mv -f "$dir/.$1.prom.partial" "$dir/$1.prom"; } 2>/dev/null; then
        echo "${loop:-loop}: could not write the metrics file $dir/$1.prom" >&2
        # What the writer still has to give is read, so it never dies of a broken pipe.
        cat >/dev/null
    fi
    return 0
}
