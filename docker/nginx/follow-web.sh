#!/bin/sh
# Keeps nginx's web upstream equal to the addresses Docker's DNS gives for
# `web`: every 2 s it resolves the name and, when the set changed (a container
# restarted with a new address, or the stack scaled), rewrites servers.conf and
# reloads nginx gracefully. An upstream of addresses, unlike a name resolved per
# request, keeps its connections to Gunicorn alive. While a deploy pins the
# upstream (the file `pinned` exists, written by ./inv), it leaves it alone.
#   follow-web.sh once   write servers.conf now, without reloading (at start)
set -eu
dir=/etc/nginx/upstream

servers() {
    getent ahostsv4 web 2>/dev/null | awk '{print "server " $1 ":8000;"}' | sort -u
}

write() {
    want="$(servers)"
    # No address (web restarting or not up yet): keep the last list rather than none.
    [ -n "$want" ] || return 1
    [ "$want" != "$(cat "$dir/servers.conf" 2>/dev/null)" ] || return 1
    printf '%s\n' "$want" >"$dir/servers.conf.new"
    mv "$dir/servers.conf.new" "$dir/servers.conf"
}

if [ "${1:-}" = once ]; then
    write || true
    exit 0
fi
while :; do
    sleep 2
    [ ! -e "$dir/pinned" ] || continue
    if write; then
        nginx -t -q && nginx -s reload && echo "follow-web: web is now $(tr '\n' ' ' <"$dir/servers.conf")"
    fi
done
