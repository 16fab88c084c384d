"""prod.status: the prod stack on one screen, from what answers within a second or two.

Always: the services (state, health, restarts), the deployed tag, readiness (database,
cache, migrations) through the proxy, the newest backup, the backups disk and the
certificate. With monitoring on, from Prometheus too: traffic, errors and p99 of the
last 5 minutes, Celery's queue, point-in-time recovery and the alerts firing. A line
that cannot be filled says why instead.
"""

from __future__ import annotations

import json
import shutil
import ssl
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from .. import compose, deploys, rollout, tls
from ..db import backups
from ..run import run, shell
from ..stack import Stack, backups_dir, tls_dir
from . import switch

TIMEOUT = 2.0
# Jobs each `up` runs to completion: exited with 0 is what they should be.
ONE_OFF = ("db-roles", "migrate")
REQUESTS = "django_http_responses_total_by_status_view_method_total"
QUERIES = {
    "rate": f"sum(rate({REQUESTS}[5m]))",
    "errors": f'sum(rate({REQUESTS}{{status=~"5.."}}[5m])) / sum(rate({REQUESTS}[5m]))',
    "p99": "histogram_quantile(0.99, sum by (le) "
    "(rate(django_http_requests_latency_seconds_by_view_method_bucket[5m])))",
    "queue": 'sum(redis_key_size{role="broker", key="celery"})',
    "workers": "sum(flower_worker_online)",
    "failed": 'sum(increase(flower_events_total{type="task-failed"}[5m]))',
    "threads": "sum(gunicorn_threads)",
    "busy": "max_over_time(sum(gunicorn_busy_threads)[5m:15s])",
    "pitr_backup": "max(desideliver_pitr_newest_backup_timestamp_seconds)",
}


def ago(seconds: float) -> str:
    """A duration as a person reads it: 42 s, 7 min, 5 h, 3 d."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def services_line(containers: list[dict], restarts: dict[str, int]) -> str:
    """`compose ps --format json`'s rows, the ones needing attention first."""
    if not containers:
        return "✗ nothing runs: ./inv prod.deploy (or prod.up)"
    healthy, trouble = [], []
    for row in sorted(containers, key=lambda r: r.get("Service", "")):
        name, state, health = row.get("Service", "?"), row.get("State", "?"), row.get("Health", "")
        count = restarts.get(row.get("ID", "")[:12], 0)
        note = f" ({count} restart{'s' * (count != 1)})" if count else ""
        if state == "running" and health in ("", "healthy"):
            healthy.append(name + note)
        elif not (name in ONE_OFF and state == "exited" and row.get("ExitCode") == 0):
            trouble.append(f"{name} {health or state}{note}")
    return "; ".join([*(f"✗ {t}" for t in trouble), f"✓ {len(healthy)} up: " + ", ".join(healthy)])


def readiness_line(answer: dict | None, problem: str = "") -> str:
    if answer is None:
        return f"✗ no answer through the proxy: {problem}"
    checks = answer.get("checks", {})
    failed = [f"{name}: {state}" for name, state in checks.items() if state != "ok"]
    return ("✗ " + "; ".join(failed)) if failed else "✓ " + ", ".join(checks) + " ok"


def deploy_line(record: dict[str, str]) -> str:
    if not record.get("current"):
        return "not deployed from this checkout yet"
    previous = f" (before it :{record['previous']}; prod.rollback returns to it)" if record.get("previous") else ""
    return f":{record['current']}{previous}"


def backup_line(newest: backups.Backup | None, now: datetime) -> str:
    if newest is None:
        return "✗ no backup yet: ./inv db.backup --env prod"
    age = now.timestamp() - newest.dump.stat().st_mtime
    return f"newest dump {ago(age)} ago ({newest.size_bytes / 1e6:.1f} MB, {newest.dump.name})"


def disk_line(directory: Path) -> str:
    if not directory.is_dir():
        return f"✗ no backups directory at {directory} yet (the first backup makes it)"
    usage = shutil.disk_usage(directory)
    used = 1 - usage.free / usage.total
    mark = "✗" if used > 0.8 else "✓"
    return f"{mark} {usage.free / 1e9:.1f} GB free of {usage.total / 1e9:.1f} GB ({used:.0%} used) under {directory}"


def certificate_line(not_after: float | None, now: float) -> str:
    if not_after is None:
        return f"✗ no certificate in {tls_dir()}"
    days = (not_after - now) / 86400
    mark = "✗" if days < 14 else "✓"
    expires = datetime.fromtimestamp(not_after, UTC).strftime("%Y-%m-%d")
    return f"{mark} expires {expires} (in {days:.0f} days)"


def traffic_line(values: dict[str, float | None]) -> str:
    if values.get("rate") is None:
        return "no requests in the last 5 minutes"
    errors, p99 = values.get("errors") or 0.0, values.get("p99")
    latency = f"p99 {p99 * 1000:.0f} ms" if p99 is not None else "p99 unknown"
    return f"{values['rate']:.1f} req/s, {errors:.1%} 5xx, {latency} (last 5 min, Django)"


def threads_line(values: dict[str, float | None]) -> str:
    if not values.get("threads"):
        return "✗ no web worker reports its threads"
    return f"at most {values.get('busy') or 0:.0f} of {values['threads']:.0f} web request threads busy (last 5 min)"


def queue_line(values: dict[str, float | None]) -> str:
    workers, failed = values.get("workers") or 0, values.get("failed") or 0
    waiting = f"{values.get('queue') or 0:.0f} Celery tasks waiting"
    if not workers:
        return f"✗ no Celery worker online (Flower's heartbeats); {waiting}"
    return f"{waiting}, {workers:.0f} worker{'s' * (workers != 1)} online, {failed:.0f} tasks failed (last 5 min)"


def alerts_line(alerts: list[dict]) -> str:
    firing = [a for a in alerts if a.get("state") == "firing"]
    if not firing:
        return "✓ none firing"
    return "✗ " + "; ".join(
        f"{a['labels'].get('alertname')} ({a['labels'].get('severity', '?')}) since {a.get('activeAt', '?')[:19]}Z"
        for a in firing
    )


def prometheus(path: str, **query: str) -> dict:
    url = switch.ui_urls()["Prometheus"] + f"api/v1/{path}?{urllib.parse.urlencode(query)}"
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:  # noqa: S310 - the loopback URL above
        return json.load(response)["data"]


def scalar(expression: str) -> float | None:
    result = prometheus("query", query=expression)["result"]
    value = float(result[0]["value"][1]) if result else None
    return None if value is None or value != value else value  # NaN: no samples to divide


def readiness(s: Stack) -> tuple[dict | None, str]:
    request = urllib.request.Request(  # noqa: S310 - the proxy on loopback
        rollout.base_url(s) + "/api/v1/health/ready/", headers=rollout.proxy_headers(s)
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT, context=tls.client_context()) as response:  # noqa: S310
            return json.load(response), ""
    except urllib.error.HTTPError as error:  # Django's 503 names the failed check; nginx's 502 is a page
        try:
            return json.load(error), ""
        except ValueError:
            return None, f"HTTP {error.code} from the proxy (web not answering?)"
    except (OSError, ValueError) as error:
        return None, str(getattr(error, "reason", error))


def containers(s: Stack) -> tuple[list[dict], dict[str, int]]:
    listing = run(s.compose("ps", "--all", "--format", "json"), step="list", capture=True, check=False)
    rows = compose.parse_json_lines(listing.stdout) if listing.returncode == 0 else []
    ids = [row["ID"] for row in rows if row.get("ID")]
    counts: dict[str, int] = {}
    if ids:
        inspect = run(shell("docker", "inspect", "--format", "{{.Id}} {{.RestartCount}}", *ids), step="restarts",
                      capture=True, check=False)  # fmt: skip
        for line in inspect.stdout.splitlines():
            container, _, count = line.partition(" ")
            counts[container[:12]] = int(count or 0)
    return rows, counts


def certificate_expiry() -> float | None:
    path = tls_dir() / tls.CERTIFICATE
    if not path.is_file():
        return None
    end = run(shell("openssl", "x509", "-noout", "-enddate", "-in", str(path)), step="certificate", capture=True)
    return ssl.cert_time_to_seconds(end.stdout.strip().partition("=")[2])


def monitoring_lines(now: float) -> list[tuple[str, str]]:
    if not switch.enabled():
        return [("Traffic", f"(monitoring is off: {switch.SWITCH}=on in .env.prod adds traffic, queue and alerts)")]
    try:
        values = {name: scalar(expression) for name, expression in QUERIES.items()}
        alerts = prometheus("alerts")["alerts"]
    except (OSError, ValueError) as error:
        return [("Traffic", f"✗ Prometheus does not answer ({getattr(error, 'reason', error)}): ./inv prod.ps")]
    pitr = values["pitr_backup"]
    return [
        ("Traffic", traffic_line(values)),
        ("Threads", threads_line(values)),
        ("Queue", queue_line(values)),
        ("PITR", f"newest pgBackRest backup {ago(now - pitr)} ago" if pitr else "✗ no pgBackRest backup reported"),
        ("Alerts", alerts_line(alerts)),
    ]


def report(s: Stack, clock: Callable[[], float] = time.time) -> str:
    started = time.monotonic()
    now = clock()
    rows, counts = containers(s)
    answer, problem = readiness(s)
    lines = [
        ("Services", services_line(rows, counts)),
        ("Deployed", deploy_line(deploys.deployed(s.project))),
        ("Readiness", readiness_line(answer, problem)),
        *monitoring_lines(now),
        ("Backups", backup_line(backups.newest("prod"), datetime.fromtimestamp(now, UTC))),
        ("Disk", disk_line(backups_dir())),
        ("TLS", certificate_line(certificate_expiry(), now)),
    ]
    width = max(len(label) for label, _ in lines)
    body = "\n".join(f"  {label:<{width}}  {text}" for label, text in lines)
    return f"{s.project} at {datetime.fromtimestamp(now, UTC):%Y-%m-%d %H:%M:%S} UTC\n{body}\n" + (
        f"  (gathered in {time.monotonic() - started:.1f} s)"
    )
