#!/bin/sh
# Starts nginx with its web upstream set to the addresses of the running web
# containers (follow-web.sh keeps it so). /etc/nginx/upstream is a tmpfs: a
# restarted proxy always starts from what Docker's DNS says now.
set -eu
dir=/etc/nginx/upstream
# An upstream group needs a server even before web answers to its name.
echo 'server 127.0.0.1:9 down;' >"$dir/servers.conf"
rm -f "$dir/pinned"
follow-web.sh once
follow-web.sh &
exec /docker-entrypoint.sh "$@"
