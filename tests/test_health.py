import io
import time

import pytest
from django.core.cache import caches
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.utils import OperationalError

from core import health

pytestmark = pytest.mark.django_db


def test_liveness_touches_no_dependency(api, monkeypatch):
    monkeypatch.setattr(connection, "ensure_connection", lambda: (_ for _ in ()).throw(AssertionError("DB used")))
    response = api.get("/api/v1/health/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readiness_ok_when_everything_is_reachable(api):
    response = api.get("/api/v1/health/ready/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "cache": "ok", "migrations": "ok"}}


def test_readiness_is_503_naming_only_the_failed_check_and_logs_why(api, monkeypatch, caplog):
    def refuse():
        raise OperationalError('connection to server at "db" (10.0.0.9), port 5432 failed: Connection refused')

    monkeypatch.setitem(health.CHECKS, "database", refuse)
    response = api.get("/api/v1/health/ready/")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "failed", "cache": "ok", "migrations": "ok"},
    }
    assert "10.0.0.9" not in response.content.decode()  # no host, port or driver text for anonymous callers
    assert "10.0.0.9" in caplog.text  # the operator finds it in the log


def test_readiness_answers_503_within_two_seconds_when_a_dependency_stalls(api, monkeypatch):
    monkeypatch.setitem(health.CHECKS, "cache", lambda: time.sleep(5))
    started = time.monotonic()
    response = api.get("/api/v1/health/ready/")
    assert time.monotonic() - started < 2
    assert response.status_code == 503
    assert response.json()["checks"]["cache"] == "failed"


def test_readiness_reports_a_cache_that_loses_values(api, monkeypatch):
    # The class, not the instance: each thread (the checks run on their own) has its own cache object.
    monkeypatch.setattr(type(caches["default"]), "get", lambda *a, **k: None)
    response = api.get("/api/v1/health/ready/")
    assert response.status_code == 503
    assert response.json()["checks"]["cache"] == "failed"


def test_readiness_reports_unapplied_migrations(api, monkeypatch, caplog):
    monkeypatch.setattr(health.MigrationExecutor, "migration_plan", lambda self, targets: ["0002_pending"])
    response = api.get("/api/v1/health/ready/")
    assert response.status_code == 503
    assert response.json()["checks"]["migrations"] == "failed"
    assert "1 unapplied migration(s)" in caplog.text


def test_wait_for_db_fails_at_once_naming_the_cause_when_the_password_is_refused(monkeypatch):
    def refuse():
        raise OperationalError('connection failed: FATAL:  password authentication failed for user "desideliver"')

    monkeypatch.setattr(connection, "cursor", refuse)
    started = time.monotonic()
    with pytest.raises(CommandError) as error:
        call_command("wait_for_db", "--timeout", "30", "--interval", "0.1")
    assert time.monotonic() - started < 5
    assert "password authentication failed" in str(error.value)
    assert "POSTGRES_PASSWORD" in str(error.value)
    assert "dev.down --volumes" in str(error.value)


def test_check_ready_passes_on_a_ready_app_and_names_the_failed_check_otherwise(monkeypatch):
    # What a swarm job runs after a restore: the readiness checks, with no server to ask.
    out = io.StringIO()
    call_command("check_ready", stdout=out)
    assert out.getvalue().strip() == "ready: cache ok, database ok, migrations ok"
    monkeypatch.setitem(health.CHECKS, "migrations", lambda: "2 unapplied migration(s)")
    with pytest.raises(CommandError, match=r"not ready: migrations failed"):
        call_command("check_ready")
