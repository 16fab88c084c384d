"""Monitoring (MONITORING=on), end to end: every layer scraped, alerts delivered to a webhook, nothing public."""

import contextlib
import json
import os
import pathlib
import re
import secrets
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest

from tests.helpers import free_port, http_status

from .conftest import HTTPS, BackgroundLoad, figure, kill_and_await_restart, make_stack, prod_settings, running

# Most of its ten minutes is Prometheus's and Alertmanager's waits: ./inv test.e2e runs it beside the rest.
pytestmark = [pytest.mark.e2e, pytest.mark.waits]

PAST_CACHE = {**HTTPS, "Cookie": "e2e=1"}  # a cookie: nginx's catalogue cache never answers it, Django does

# Every job of docker/prometheus/prometheus.yml, with its number of targets.
JOBS = {"django": 1, "nginx": 1, "postgres": 1, "redis": 2, "celery": 1, "node": 1, "alertmanager": 1, "prometheus": 1}
# The webhook receiver, a container on the stack's `edge` network (Alertmanager's route out).
SINK = """
import http.server, sys
class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        sys.stdout.write(self.rfile.read(int(self.headers["Content-Length"])).decode() + "\\n")
        sys.stdout.flush()
        self.send_response(200)
        self.end_headers()
http.server.HTTPServer(("", 8080), Sink).serve_forever()
"""


@pytest.fixture(scope="module")
def prod(tmp_path_factory):
    settings = prod_settings(
        MONITORING="on",
        PROMETHEUS_PORT=str(free_port()),
        ALERTMANAGER_PORT=str(free_port()),
        FLOWER_PORT=str(free_port()),
        # Moved into SECRETS_DIR/alert_webhook_url at the first start, as an operator's would be.
        ALERT_WEBHOOK_URL="http://alert-sink:8080/",
        # A scheduled backup every 20 s: a failing one is seen at once.
        BACKUP_INTERVAL_SECONDS="20",
    )
    # The tests' own compose commands see the monitoring services as ./inv's do.
    stack = make_stack("prod", tmp_path_factory.mktemp("monitoring"), settings, {"COMPOSE_PROFILES": "monitoring"})
    # A small disk under the backups directory (before any container mounts it), filled past
    # BackupsDiskFilling's 80% now: the alert waits 5 minutes, which the other tests spend.
    if os.geteuid() != 0:
        pytest.skip("the monitoring e2e mounts a small tmpfs as the backups disk: run it as root (CI does)")
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SMALL_DISK}", "tmpfs", str(stack.backups)], check=True,
                   timeout=30)  # fmt: skip
    try:
        fill(stack.backups, 0.85)
        stack.filled = time.time()
        with running(stack, "prod.deploy"):
            yield from with_alert_sink(stack)
    finally:
        # Not check=True: a failing unmount must not hide the failure that ended the tests.
        unmounted = subprocess.run(["umount", "--lazy", str(stack.backups)], capture_output=True, text=True)
        if unmounted.returncode:
            print(f"could not unmount the test's tmpfs at {stack.backups}: {unmounted.stderr}")


SMALL_DISK = 64 << 20
FILLER = "disk-filler.bin"


def fill(directory: pathlib.Path, used: float) -> None:
    """Grow FILLER until `used` of the disk under `directory` is used (0 removes it)."""
    usage = shutil.disk_usage(directory)
    # Only ever the test's own small tmpfs, never a real disk.
    assert os.path.ismount(directory), directory
    assert usage.total <= SMALL_DISK, directory
    (directory / FILLER).unlink(missing_ok=True)
    usage = shutil.disk_usage(directory)
    if used:
        (directory / FILLER).write_bytes(b"\0" * int(used * usage.total - (usage.total - usage.free)))


def with_alert_sink(stack):
    """The stack, with the webhook receiver running beside it while the tests use it."""
    sink = f"{stack.project}-alert-sink"
    image = stack.inspect("web")["Config"]["Image"]
    subprocess.run(
        ["docker", "run", "--detach", "--rm", "--name", sink, "--network", f"{stack.project}_edge",
         "--network-alias", "alert-sink", "--read-only", "--user", "65534", "--entrypoint", "python",
         image, "-c", SINK],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    stack.sink = sink
    try:
        yield stack
    finally:
        subprocess.run(["docker", "rm", "--force", sink], capture_output=True, timeout=60)


def prometheus(stack, path: str, **query: str) -> dict:
    url = f"http://127.0.0.1:{stack.values['PROMETHEUS_PORT']}/api/v1/{path}?{urllib.parse.urlencode(query)}"
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]


def value(stack, expression: str) -> float:
    result = prometheus(stack, "query", query=expression)["result"]
    return float(result[0]["value"][1]) if result else 0.0


def targets_up(stack) -> dict[str, int]:
    up: dict[str, int] = {}
    for target in prometheus(stack, "targets", state="active")["activeTargets"]:
        up[target["labels"]["job"]] = up.get(target["labels"]["job"], 0) + (target["health"] == "up")
    return up


def notifications(stack) -> list[dict]:
    """What the webhook received, oldest first: Alertmanager's payloads, one per line of the sink's output."""
    out = subprocess.run(["docker", "logs", stack.sink], capture_output=True, text=True, timeout=30).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def unix_time(timestamp: str) -> float:
    """Alertmanager's RFC 3339 time (to the nanosecond) as a Unix time, to the second."""
    return datetime.fromisoformat(re.sub(r"\.[0-9]+", "", timestamp).replace("Z", "+00:00")).timestamp()


# Which one of an alert's series a test caused: the database also restarts (stopped and started by
# the tests), which ServiceRestarting may rightly report too.
CAUSED = {"ServiceRestarting": {"role": "cache"}}


def received(stack, alertname: str, status: str, since: float) -> bool:
    """Whether the webhook got `alertname` as `status` for a failure after `since` (Unix time): firing,
    it started after; resolved, it ended after. An earlier test's alert (a backup that failed while it
    stopped the database) never counts."""
    key = "startsAt" if status == "firing" else "endsAt"
    wanted = {"alertname": alertname, **CAUSED.get(alertname, {})}
    return any(
        wanted.items() <= alert["labels"].items() and alert["status"] == status and unix_time(alert[key]) >= since
        for payload in notifications(stack)
        for alert in payload["alerts"]
    )


def test_every_layer_is_scraped(prod):
    prod.wait_for(lambda: targets_up(prod) == JOBS, f"every target up: {JOBS}", timeout=120, interval=3)
    # Each exporter reaches what it watches, not just itself. An exporter can be up a scrape
    # before what it watches (nginx-exporter before the proxy), so this waits a scrape or two.
    prod.wait_for(
        lambda: (
            value(prod, "pg_up") == 1
            and value(prod, "count(redis_up == 1)") == 2
            and value(prod, "nginx_up") == 1
            and value(prod, "sum(flower_worker_online)") == 1
        ),
        "pg_up, both redis_up, nginx_up and the Celery worker online (Flower)",
        timeout=60,
        interval=3,
    )
    assert value(prod, 'count(node_filesystem_size_bytes{mountpoint="/backups"})') == 1
    assert value(prod, "sum(gunicorn_threads)") == 8  # WEB_CONCURRENCY 2 x GUNICORN_THREADS 4
    # What backup and pitr write about themselves, through node-exporter's textfile collector.
    prod.wait_for(
        lambda: (
            value(prod, "desideliver_backup_last_run_ok") == 1
            and value(prod, "desideliver_pitr_ok") == 1
            and value(prod, "desideliver_certificate_expiry_timestamp_seconds") > 0
        ),
        "backup.prom and pitr.prom, both healthy, and certificate.prom",
        timeout=90,
        interval=3,
    )
    newest = value(prod, "desideliver_backup_newest_timestamp_seconds")
    assert time.time() - 120 < newest <= time.time()
    assert value(prod, 'desideliver_pitr_newest_backup_timestamp_seconds{repository="local"}') > 0
    assert value(prod, "desideliver_backup_interval_seconds") == 20
    # The proxy's certificate (self-signed by prod.deploy for 90 days).
    expires = value(prod, "desideliver_certificate_expiry_timestamp_seconds")
    assert 85 * 86400 < expires - time.time() < 91 * 86400


def test_a_request_through_the_proxy_moves_its_views_counter(prod):
    series = 'sum(django_http_responses_total_by_status_view_method_total{view="product-list", status="200"})'
    before = value(prod, series)
    for _ in range(5):
        assert prod.request("GET", "/api/v1/products/", headers=PAST_CACHE).status == 200
    prod.wait_for(lambda: value(prod, series) >= before + 5, "the counter to move by 5", timeout=60, interval=2)


def test_no_metrics_endpoint_or_ui_is_reachable_through_the_front_door(prod):
    for path in ("/metrics", "/stub_status", "/api/v1/metrics"):
        response = prod.request("GET", path, headers=HTTPS)
        assert response.status == 404, path
        assert b"django_http" not in response.body
        assert b"Active connections" not in response.body
    for service in ("prometheus", "alertmanager", "flower"):
        bindings = prod.inspect(service)["HostConfig"]["PortBindings"]
        assert {b["HostIp"] for ports in bindings.values() for b in ports} == {"127.0.0.1"}, service
    for service in ("postgres-exporter", "redis-exporter", "nginx-exporter", "node-exporter"):
        assert not prod.inspect(service)["HostConfig"]["PortBindings"], service
        assert prod.inspect(service)["Config"]["User"] == "65534:65534"


def test_prod_monitor_names_the_loopback_urls_and_flowers_login_is_the_one_it_names(prod):
    out = prod.inv("prod.monitor").stdout
    assert f"http://127.0.0.1:{prod.values['PROMETHEUS_PORT']}/" in out
    assert f"-L {prod.values['ALERTMANAGER_PORT']}:127.0.0.1:{prod.values['ALERTMANAGER_PORT']}" in out
    assert f"Flower: http://127.0.0.1:{prod.values['FLOWER_PORT']}/" in out
    password_file = re.search(r"Flower asks for a login: user operator, the password in (\S+)\.", out).group(1)
    password = pathlib.Path(password_file).read_text().strip()
    flower = f"http://127.0.0.1:{prod.values['FLOWER_PORT']}"
    # Its UI shows tasks' arguments: no page without the login; Prometheus scrapes /metrics without one.
    assert http_status(f"{flower}/tasks") == 401
    assert http_status(f"{flower}/tasks", login="operator:" + password) == 200
    assert http_status(f"{flower}/metrics") == 200


def log_lines(stack, service: str) -> list[str]:
    """A service's log lines without compose's "service-1  | " prefix."""
    return [line.partition("| ")[2] for line in stack.logs(service).splitlines()]


def test_one_request_id_is_found_in_nginx_and_in_the_celery_task_it_queued(prod):
    body = {"email": "twice@example.com", "password": "E2e-" + secrets.token_urlsafe(12), "first_name": "E",
            "last_name": "Two"}  # fmt: skip
    assert prod.request("POST", "/api/v1/auth/register/", body, headers=HTTPS).status == 201
    # Registering again queues the account-exists notice (accounts/tasks.py); a client's own id is replaced.
    again = prod.request("POST", "/api/v1/auth/register/", body, headers={**HTTPS, "X-Request-ID": "forged"})
    assert again.status == 201
    request_id = again.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    lines = prod.wait_for(
        lambda: [json.loads(line) for line in log_lines(prod, "worker") if request_id in line],
        "the worker's log lines of the task",
    )
    assert all(line["request_id"] == request_id for line in lines)
    assert any("send_account_exists_notice" in line["message"] for line in lines)
    # Flower saw the task succeed (the workers' task events, as Prometheus scrapes them).
    succeeded = 'sum(flower_events_total{type="task-succeeded", task="accounts.tasks.send_account_exists_notice"})'
    prod.wait_for(lambda: value(prod, succeeded) >= 1, "the task's success in Flower's metrics", timeout=60, interval=3)
    prod.wait_for(lambda: any(request_id in line for line in log_lines(prod, "proxy")), "nginx's access log line")


def test_prod_status_on_a_healthy_stack_and_with_the_database_stopped(prod):
    # The backup service's first dump, which this test must not take for granted from an earlier one.
    prod.wait_for(
        lambda: value(prod, "desideliver_backup_last_run_ok") == 1, "a scheduled dump", timeout=90, interval=3
    )
    healthy = prod.inv("prod.status").stdout
    assert re.search(r"Readiness +✓ database, cache, migrations ok", healthy), healthy
    assert re.search(r"Traffic +[0-9.]+ req/s, [0-9.]+% 5xx, p99 [0-9]+ ms", healthy), healthy
    # WEB_CONCURRENCY 2 x GUNICORN_THREADS 4 (prod_settings), from gunicorn.conf.py's gauges.
    assert re.search(r"Threads +at most [0-9] of 8 web request threads busy", healthy), healthy
    assert re.search(r"Queue +0 Celery tasks waiting, 1 worker online, [0-9]+ tasks failed", healthy), healthy
    assert re.search(r"Backups +newest dump [0-9]+ (s|min) ago", healthy), healthy
    assert re.search(r"TLS +✓ expires", healthy), healthy
    # The fixture's filled disk, flagged (BackupsDiskFilling's threshold); nothing else is.
    assert re.search(r"Disk +✗ [0-9.]+ GB free of 0.1 GB \(8[5-9]% used\)", healthy), healthy
    assert "✗" not in healthy.split("Alerts")[0], healthy  # services, deploy, readiness, traffic, queue, PITR
    prod.compose("stop", "db")
    try:
        # Readiness answers from its last round for a second (READY_CACHE_SECONDS).
        prod.wait_for(lambda: prod.request("GET", "/api/v1/health/ready/", headers=HTTPS).status == 503, "not ready")
        stopped = prod.inv("prod.status").stdout
        assert re.search(r"Services +✗ db exited", stopped), stopped
        assert re.search(r"Readiness +✗ database: ", stopped), stopped
    finally:
        prod.compose("start", "db")
    prod.wait_for(lambda: prod.request("GET", "/api/v1/health/ready/", headers=HTTPS).status == 200, "ready again")
    for name, output in (("healthy", healthy), ("db stopped", stopped)):
        figure(f"prod.status on a {name} stack: " + re.search(r"gathered in ([0-9.]+ s)", output).group(1))


class ReadinessProbes(BackgroundLoad):
    """A load balancer's readiness probe through the proxy, every 3 s (7 minutes at most): each one reaches
    Django and the database (the catalogue would come from Django's cache for a while)."""

    seconds = 420
    interval = 3.0

    def __init__(self, stack) -> None:
        super().__init__()
        self.stack = stack

    def step(self) -> None:
        # As CatalogueReads (test_prod_stack): one refused connection must not end the probes' thread.
        with contextlib.suppress(OSError):
            self.stack.request("GET", "/api/v1/health/ready/", headers=PAST_CACHE)


def wait_for_alerts(stack, alerts: dict[str, float], status: str, timeout: float) -> dict[str, float]:
    """How long after its start (name: Unix time) each alert took to reach the webhook as `status`."""
    took = {}
    for alert, start in alerts.items():
        try:
            stack.wait_for(
                lambda a=alert, t=start: received(stack, a, status, since=int(t)),
                f"{alert} {status} at the webhook",
                timeout=timeout,
                interval=5,
            )
        except AssertionError as failure:
            # What Prometheus saw, and what reached the webhook: which of the two stopped short.
            seen = [(r["metric"], r["value"][1]) for r in prometheus(stack, "query", query="ALERTS")["result"]]
            sent = [(a["labels"]["alertname"], a["status"]) for p in notifications(stack) for a in p["alerts"]]
            raise AssertionError(f"{failure}\nPrometheus's ALERTS: {seen}\nat the webhook: {sent}") from None
        took[alert] = time.time() - start
    return took


def report(fired: dict[str, float], resolved: dict[str, float]) -> None:
    for alert in fired:
        after = "resolution not awaited"
        if alert in resolved:
            after = f"resolved {resolved[alert]:.0f} s after the fix (or sooner)"
        figure(f"monitoring: {alert} at the webhook {fired[alert]:.0f} s after the failure; {after}")


def test_every_alert_a_stack_can_be_made_to_raise_arrives_at_the_webhook_and_resolves(prod):
    """Last (it stops db, then web). One failure after another on the one stack, overlapped where
    they do not hide each other, so the alerts' `for:` waits run side by side:

    1. db stopped under readiness probes, the backups directory unwritable, the backups disk filled
       (by the fixture): PostgresDown, BackupFailed, ServerErrors (503s), BackupsDiskFilling.
    2. db back and the disk emptied: those resolve, bar BackupFailed (backups still cannot write).
    3. web stopped, and the cache crashed twice (the restart policy brings it back each time):
       WebDown, ServiceRestarting, and BackupStale (no dump since step 1 at a 20 s interval).
    4. web back and the backups directory writable: every one resolves. ServiceRestarting is not
       waited for: it looks back 15 minutes.
    """
    broken = time.time()
    prod.compose("stop", "db")
    prod.backups.chmod(0o555)  # the backup service (no capabilities) can no longer write there either
    try:
        with ReadinessProbes(prod):
            started = dict.fromkeys(("PostgresDown", "BackupFailed", "ServerErrors"), broken)
            fired = wait_for_alerts(prod, {**started, "BackupsDiskFilling": prod.filled}, "firing", timeout=360)
    finally:
        prod.compose("start", "db")
        fill(prod.backups, 0)
    fixed = time.time()
    prod.wait_for(lambda: prod.request("GET", "/api/v1/health/ready/", headers=HTTPS).status == 200, "ready again")
    # The 5xx share of the last 5 minutes falls under the budget as good answers come in: as many as
    # twenty-five times the errors, which a shop's traffic brings in well under those 5 minutes.
    errors = value(prod, 'sum(increase(django_http_responses_total_by_status_view_method_total{status=~"5.."}[5m]))')
    assert errors > 0
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: prod.request("GET", "/api/v1/health/", headers=PAST_CACHE).status,
                                range(int(25 * errors))))  # fmt: skip
    assert set(answers) == {200}
    back = ("PostgresDown", "ServerErrors", "BackupsDiskFilling")
    resolved = wait_for_alerts(prod, dict.fromkeys(back, fixed), "resolved", timeout=240)

    web_stopped = time.time()
    prod.compose("stop", "web")
    try:
        kill_and_await_restart(prod, "cache")
        # A scrape of each start time: changes() needs to see both.
        time.sleep(20)
        kill_and_await_restart(prod, "cache")
        later = {"WebDown": web_stopped, "ServiceRestarting": web_stopped, "BackupStale": broken}
        fired |= wait_for_alerts(prod, later, "firing", timeout=420)
    finally:
        prod.compose("start", "web")
        prod.backups.chmod(0o755)
    fixed = time.time()
    resolved |= wait_for_alerts(prod, dict.fromkeys(("WebDown", "BackupFailed", "BackupStale"), fixed), "resolved",
                                timeout=240)  # fmt: skip
    report(fired, resolved)
