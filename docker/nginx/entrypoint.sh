#!/bin/sh
# Starts nginx routing to web by name (Docker's DNS, re-asked every 5 s, so
# restarted containers are found). During a rollout ./inv pins the upstream
# to the new containers' addresses and reloads nginx (docs/operations.md, "the
# rollout"); a restarted proxy always begins from the name again.
# /etc/nginx/upstream is a tmpfs.
set -eu
dir=/etc/nginx/upstream
[ -s "$dir/target.conf" ] || echo 'set $web_backend web:8000;' >"$dir/target.conf"
# An upstream group needs a server even while unused.
[ -s "$dir/servers.conf" ] || echo 'server 127.0.0.1:9 down;' >"$dir/servers.conf"
exec /docker-entrypoint.sh "$@"
