"""Monitoring on the host side: the MONITORING switch and what it adds, and prod.status's lines."""

import io
import json
from pathlib import Path

import pytest
from invoke.exceptions import Exit

from tasks.lib import prodplans
from tasks.lib.monitoring import status, switch
from tasks.lib.stack import stack


@pytest.fixture
def prod_env(monkeypatch, tmp_path):
    """A .env.prod of the test's own; write(**settings) fills it."""
    env = tmp_path / ".env.prod"
    monkeypatch.setenv("DESIDELIVER_ENV_FILE", str(env))
    monkeypatch.setenv("BACKUP_DIR", str(tmp_path / "backups"))  # the checkout's may not be writable (in a container)
    for name in ("MONITORING", "COMPOSE_PROFILES", "PROMETHEUS_PORT", "ALERTMANAGER_PORT", "FLOWER_PORT"):
        monkeypatch.delenv(name, raising=False)

    def write(**settings: str) -> Path:
        env.write_text(
            f"SECRETS_DIR={tmp_path}\nALLOWED_HOSTS=localhost\n" + "".join(f"{k}={v}\n" for k, v in settings.items())
        )
        return tmp_path

    return write


@pytest.mark.parametrize(
    ("value", "on", "problem"),
    [("", False, ""), ("off", False, ""), ("On", True, ""), ("yes", False, "MONITORING='yes' is neither on nor off")],
)
def test_the_switch_is_on_or_off_and_anything_else_is_named(prod_env, value, on, problem):
    prod_env(MONITORING=value)
    assert switch.enabled() is on
    assert switch.problem() == problem


def test_on_adds_the_profile_to_every_command_keeping_the_shells_own(prod_env, monkeypatch):
    prod_env(MONITORING="off")
    assert switch.compose_environment() == {}
    assert switch.image_services() == ()
    prod_env(MONITORING="on")
    monkeypatch.setenv("COMPOSE_PROFILES", "tools,monitoring")
    assert switch.compose_environment() == {"COMPOSE_PROFILES": "tools,monitoring"}
    monkeypatch.delenv("COMPOSE_PROFILES")
    assert switch.compose_environment() == {"COMPOSE_PROFILES": "monitoring"}
    # prod.build builds the images whose config is baked in.
    assert prodplans.plan_build("t1")[0].command.endswith("build web backup proxy db prometheus alertmanager")


def test_a_bad_switch_stops_prod_before_anything_starts(prod_env, monkeypatch):
    prod_env(MONITORING="true")
    monkeypatch.setattr(prodplans, "docker_problem", lambda: "")
    with pytest.raises(Exit) as stopped:
        prodplans.preflight()
    assert "MONITORING='true' is neither on nor off" in str(stopped.value.message)
    assert stopped.value.code == 2


def test_the_secrets_are_made_and_alerts_without_a_receiver_are_named(prod_env, monkeypatch, capsys):
    secrets = prod_env(MONITORING="on")
    monkeypatch.setattr(prodplans, "docker_problem", lambda: "")
    prodplans.preflight()
    assert (secrets / "alert_webhook_url").read_text().strip() == switch.WEBHOOK_PLACEHOLDER
    assert len((secrets / "monitor_db_password").read_text().strip()) > 40
    assert "Alerts go nowhere yet: put your webhook's URL in" in capsys.readouterr().out
    # redis_exporter's password map follows redis_password, rewritten at each start.
    (secrets / "redis_password").write_text("changed\n")
    prodplans.ensure_secrets()
    written = secrets / "redis_exporter_passwords"
    assert json.loads(written.read_text()) == {"redis://redis:6379": "changed", "redis://cache:6379": "changed"}
    assert written.stat().st_mode & 0o777 == 0o644


def test_the_uis_and_the_tunnel_use_the_configured_ports(prod_env):
    secrets = prod_env(PROMETHEUS_PORT="19090", FLOWER_PORT="15555")
    assert switch.ui_urls() == {
        "Prometheus": "http://127.0.0.1:19090/",
        "Alertmanager": "http://127.0.0.1:9093/",
        "Flower": "http://127.0.0.1:15555/",
    }
    assert switch.tunnel_command() == (
        "ssh -N -L 19090:127.0.0.1:19090 -L 9093:127.0.0.1:9093 -L 15555:127.0.0.1:15555 USER@DOCKER-HOST"
    )
    assert switch.login_hint() == f"Flower asks for a login: user operator, the password in {secrets}/flower_password."


def test_services_needing_attention_come_first_with_their_restarts():
    rows = [
        {"ID": "a" * 64, "Service": "web", "State": "running", "Health": "healthy"},
        {"ID": "b" * 64, "Service": "db", "State": "exited", "ExitCode": 137, "Health": ""},
        {"ID": "c" * 64, "Service": "migrate", "State": "exited", "ExitCode": 0, "Health": ""},
        {"ID": "e" * 64, "Service": "redis", "State": "exited", "ExitCode": 0, "Health": ""},
        {"ID": "d" * 64, "Service": "pitr", "State": "running", "Health": "unhealthy"},
    ]
    line = status.services_line(rows, {"a" * 12: 2, "d" * 12: 1})
    assert line == "✗ db exited; ✗ pitr unhealthy (1 restart); ✗ redis exited; ✓ 1 up: web (2 restarts)"
    assert status.services_line([], {}) == "✗ nothing runs: ./inv prod.deploy (or prod.up)"


def test_readiness_names_what_fails():
    ready = {"status": "ok", "checks": {"database": "ok", "cache": "ok", "migrations": "ok"}}
    assert status.readiness_line(ready) == "✓ database, cache, migrations ok"
    failing = {"status": "unavailable", "checks": {"database": "unavailable", "cache": "ok", "migrations": "unknown"}}
    assert status.readiness_line(failing) == "✗ database: unavailable; migrations: unknown"
    assert status.readiness_line(None, "Connection refused") == "✗ no answer through the proxy: Connection refused"


def test_traffic_alerts_and_the_certificate_read_at_a_glance():
    assert status.traffic_line({"rate": 12.34, "errors": 0.0123, "p99": 0.0841}) == (
        "12.3 req/s, 1.2% 5xx, p99 84 ms (last 5 min, Django)"
    )
    assert status.traffic_line({"rate": None}) == "no requests in the last 5 minutes"
    assert status.threads_line({"threads": 8.0, "busy": 3.0}) == (
        "at most 3 of 8 web request threads busy (last 5 min)"
    )
    assert status.threads_line({"threads": None, "busy": None}) == "✗ no web worker reports its threads"
    assert status.queue_line({"queue": 3.0, "workers": 1.0, "failed": 2.0}) == (
        "3 Celery tasks waiting, 1 worker online, 2 tasks failed (last 5 min)"
    )
    assert status.queue_line({"queue": 12.0, "workers": None, "failed": None}) == (
        "✗ no Celery worker online (Flower's heartbeats); 12 Celery tasks waiting"
    )
    firing = {"state": "firing", "labels": {"alertname": "WebDown", "severity": "critical"},
              "activeAt": "2026-12-06T06:31:02.123Z"}  # fmt: skip
    assert status.alerts_line([firing, {"state": "pending", "labels": {}}]) == (
        "✗ WebDown (critical) since 2026-12-06T06:31:02Z"
    )
    assert status.alerts_line([]) == "✓ none firing"
    now = 1_800_000_000.0
    assert status.certificate_line(now + 30 * 86400, now) == "✓ expires 2027-02-14 (in 30 days)"
    assert status.certificate_line(now + 5 * 86400, now).startswith("✗ expires")
    assert [status.ago(s) for s in (42, 420, 7200 * 3, 86400 * 3)] == ["42 s", "7 min", "6 h", "3 d"]


def test_readiness_through_a_proxy_whose_web_is_gone_is_named_not_a_crash(monkeypatch, prod_env):
    prod_env()

    def bad_gateway(request, **kwargs):
        raise status.urllib.error.HTTPError(request.full_url, 502, "Bad Gateway", {}, io.BytesIO(b"<html>502</html>"))

    monkeypatch.setattr(status.urllib.request, "urlopen", bad_gateway)
    answer, problem = status.readiness(stack("prod"))
    assert answer is None
    assert status.readiness_line(answer, problem) == (
        "✗ no answer through the proxy: HTTP 502 from the proxy (web not answering?)"
    )
