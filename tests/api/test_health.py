import io
import time

import pytest
from django.core.cache import caches
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.backends.signals import connection_created
from django.db.utils import OperationalError

from core import health
from tests.helpers import race

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_earlier_round(monkeypatch):
    # A round an earlier test ran with a window (READY_CACHE_SECONDS) must not answer this one, nor this one's later.
    monkeypatch.setattr(health, "_last", (0.0, 0.0, {}))


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


@pytest.fixture
def rounds(monkeypatch) -> dict[str, int]:
    """How often each readiness check has run."""
    counts = dict.fromkeys(health.CHECKS, 0)

    def counted(name, check):
        def run():
            counts[name] += 1
            return check()

        return run

    for name, check in list(health.CHECKS.items()):
        monkeypatch.setitem(health.CHECKS, name, counted(name, check))
    return counts


def test_a_flood_of_readiness_probes_costs_one_round_of_checks_per_window(api, settings, monkeypatch, rounds):
    settings.READY_CACHE_SECONDS = 1
    started = time.monotonic()
    assert {api.get("/api/v1/health/ready/").status_code for _ in range(20)} == {200}
    assert rounds == {"database": 1, "cache": 1, "migrations": 1}

    monkeypatch.setitem(health.CHECKS, "database", lambda: "down")
    if time.monotonic() - started < 0.8:  # still within the window: the last round answers
        assert api.get("/api/v1/health/ready/").status_code == 200
    time.sleep(max(0.0, started + 1.1 - time.monotonic()))
    response = api.get("/api/v1/health/ready/")  # the window is over: the failure shows
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "failed"


def test_probes_arriving_during_a_round_take_its_answer(rounds, monkeypatch):
    slow = health.CHECKS["cache"]
    monkeypatch.setitem(health.CHECKS, "cache", lambda: time.sleep(0.3) or slow())
    answers = race(*[health.check_all] * 6)
    assert answers == [{"database": "ok", "cache": "ok", "migrations": "ok"}] * 6
    assert rounds["cache"] == 1


@pytest.mark.postgres("an in-memory SQLite connection is never closed, so it cannot be counted")
@pytest.mark.django_db(transaction=True)
def test_a_round_of_readiness_checks_opens_one_database_connection(api):
    opened = []

    def count(connection, **kwargs):
        opened.append(connection.alias)

    connection_created.connect(count)
    try:
        for _ in range(3):
            assert api.get("/api/v1/health/ready/").status_code == 200
    finally:
        connection_created.disconnect(count)
    assert opened == ["default"] * 3
