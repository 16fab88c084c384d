#!/bin/sh
# Starts nginx with its web upstream set to the addresses of the running web
# containers (follow-web.sh keeps it so), and with the settings nginx cannot
# read from the environment itself written into /etc/nginx/runtime. Both
# directories are tmpfs: a restarted proxy always starts from what Docker's
# DNS and the environment say now.
set -eu
dir=/etc/nginx/upstream
runtime=/etc/nginx/runtime

fail() {
    echo "proxy: $1" >&2
    exit 78 # EX_CONFIG: a configuration error, not a crash
}

# Addresses or CIDR ranges, comma- or space-separated; nothing else reaches nginx's config.
addresses() {
    for address in $(printf '%s' "$2" | tr ',' ' '); do
        printf '%s' "$address" | grep -Eq '^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$' ||
            fail "$1 has '$address', which is not an address or CIDR range"
        printf '%s\n' "$address"
    done
}

https_port="${HTTPS_PORT:-443}"
printf '%s' "$https_port" | grep -Eq '^[0-9]{1,5}$' || fail "HTTPS_PORT='$https_port' is not a port number"
if [ "$https_port" = 443 ]; then
    echo 'set $https_port "";' >"$runtime/https-port.conf"
else
    echo "set \$https_port \":$https_port\";" >"$runtime/https-port.conf"
fi

rate="${LOGIN_RATE:-10r/m}"
printf '%s' "$rate" | grep -Eq '^[0-9]+r/[sm]$' || fail "LOGIN_RATE='$rate' is not a rate like 10r/m or 1r/s"
echo "limit_req_zone \$login_attempt zone=logins:10m rate=$rate;" >"$runtime/login-rate.conf"

limit="${CONN_PER_ADDRESS:-256}"
printf '%s' "$limit" | grep -Eq '^[1-9][0-9]{0,5}$' || fail "CONN_PER_ADDRESS='$limit' is not a whole number from 1"
echo "limit_conn per_address $limit;" >"$runtime/conn-limit.conf"

proxies="$(addresses TRUSTED_PROXIES "${TRUSTED_PROXIES:-}")"
: >"$runtime/trusted-proxies.geo"
: >"$runtime/real-ip.conf"
for address in $proxies; do
    echo "$address 1;" >>"$runtime/trusted-proxies.geo"
    echo "set_real_ip_from $address;" >>"$runtime/real-ip.conf"
done
if [ -n "$proxies" ]; then
    printf 'real_ip_header X-Forwarded-For;\nreal_ip_recursive on;\n' >>"$runtime/real-ip.conf"
fi

admin="${ADMIN_ALLOW:-all}"
if [ "$admin" = all ]; then
    printf '0.0.0.0/0 1;\n::/0 1;\n' >"$runtime/admin-allow.geo"
else
    # Assigned first: set -e does not see a failure inside a for loop's word list.
    allowed="$(addresses ADMIN_ALLOW "$admin")"
    : >"$runtime/admin-allow.geo"
    for address in $allowed; do
        echo "$address 1;" >>"$runtime/admin-allow.geo"
    done
fi

[ -r /etc/nginx/tls/fullchain.pem ] && [ -r /etc/nginx/tls/privkey.pem ] ||
    fail "no readable fullchain.pem and privkey.pem in the TLS directory (TLS_DIR); ./inv prod.deploy makes a self-signed pair"

# An upstream group needs a server even before web answers to its name.
echo 'server 127.0.0.1:9 down;' >"$dir/servers.conf"
rm -f "$dir/pinned"
follow-web.sh once
follow-web.sh &
certificate-metrics.sh &
exec /docker-entrypoint.sh "$@"
