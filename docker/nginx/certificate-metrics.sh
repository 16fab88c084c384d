#!/bin/sh
# Tells Prometheus when the served certificate expires: every 5 minutes (and at
# start) it writes certificate.prom, the end date of /etc/nginx/tls/fullchain.pem,
# into the metrics directory node-exporter reads (compose/prod, profile
# monitoring; written beside it and renamed, so a scrape never reads half).
# A renewed certificate (./inv prod.reload-tls) shows within those 5 minutes.
# Without a writable directory (no volume mounted) it does nothing.
set -eu
dir=/var/lib/desideliver/metrics
certificate=/etc/nginx/tls/fullchain.pem

[ -d "$dir" ] && [ -w "$dir" ] || exit 0
while :; do
    if end="$(openssl x509 -noout -enddate -in "$certificate" 2>/dev/null)" \
        && seconds="$(date -u -d "${end#notAfter=}" +%s 2>/dev/null)"; then
        {
            echo "# HELP desideliver_certificate_expiry_timestamp_seconds When the certificate the proxy serves expires."
            echo "# TYPE desideliver_certificate_expiry_timestamp_seconds gauge"
            echo "desideliver_certificate_expiry_timestamp_seconds $seconds"
        } >"$dir/.certificate.prom.partial" && mv -f "$dir/.certificate.prom.partial" "$dir/certificate.prom"
    else
        echo "certificate-metrics: cannot read the end date of $certificate" >&2
    fi
    sleep 300
done
