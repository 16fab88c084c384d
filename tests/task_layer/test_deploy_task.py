"""prod.deploy's failure handling, without an engine: any failed step after preparation rolls back.

These tests check the decision (which failures roll back, to which tag, what the report says), with the
rollout itself replaced. The real rollback runs on the engine in tests/e2e/test_deploy.py
(test_an_image_that_fails_its_health_check_is_rolled_back_and_says_the_schema_is_newer and
test_rollback_redeploys_the_previous_tag).
"""

import errno
import io
import os
from contextlib import nullcontext
from unittest import mock

import pytest
from invoke import MockContext
from invoke.exceptions import Exit

from tasks import prod
from tasks.lib import deploys, lock, prodplans, rollout
from tasks.lib.run import ROOT, Step


@pytest.fixture
def deploy_world(monkeypatch, tmp_path):
    monkeypatch.setenv("BACKUP_DIR", str(tmp_path))
    monkeypatch.setattr(prod.PROD.__class__, "is_running", lambda self, service: True)
    monkeypatch.setattr(prod.PROD.__class__, "volume_exists", lambda self, name: True)
    monkeypatch.setattr(deploys, "deployed", lambda project: {"current": "v1", "previous": "v0"})
    monkeypatch.setattr(lock, "held", lambda *a, **k: nullcontext())
    monkeypatch.setattr(prod.database, "migration_state", lambda s: {"catalog": "0001_initial"})
    monkeypatch.setattr(prod.rollout, "watching", lambda *a: nullcontext(rollout.Availability(sent=3)))
    rolled = mock.Mock()
    monkeypatch.setattr(prod.rollout, "rollout", rolled)
    monkeypatch.setattr(rollout, "smoke_test", lambda s: None)
    recorded = mock.Mock()
    monkeypatch.setattr(deploys, "record", recorded)
    return rolled, recorded


@pytest.mark.parametrize("failing", ["exit 7", "no-such-docker-binary rollout"])
def test_any_failing_command_in_the_switch_rolls_back_to_the_previous_tag(deploy_world, monkeypatch, failing):
    rolled, recorded = deploy_world

    def plan(tag, wait_timeout, running, has_data):
        return [Step("prepare", "true")], [Step("apply migrations", "true"), Step("roll out", failing)]

    monkeypatch.setattr(prod, "plan_deploy", plan)
    with pytest.raises(Exit) as failure:
        prod.deploy(MockContext(), tag="v2")
    message = failure.value.message
    assert "✗ deploy of :v2 failed and was rolled back; :v1 is serving." in message
    assert "'step 2/2 roll out' failed with exit code" in message
    assert "schema: unchanged (the failed deploy applied no migration)" in message
    rolled.assert_called_once()
    assert rolled.call_args.args[1:] == ("v1", 300)
    recorded.assert_not_called()  # v2 is never recorded as deployed


def test_the_report_says_when_the_schema_is_newer_than_the_code_rolled_back_to(deploy_world, monkeypatch):
    states = iter([{"catalog": "0001_initial"}, {"catalog": "0002_new_field"}])
    monkeypatch.setattr(prod.database, "migration_state", lambda s: next(states))
    monkeypatch.setattr(prod, "plan_deploy", lambda *a: ([], [Step("apply migrations", "true"), Step("x", "false")]))
    with pytest.raises(Exit, match=r"schema: NEWER than the code rolled back to \(catalog.0002_new_field applied"):
        prod.deploy(MockContext(), tag="v2")


def test_a_deploy_backs_up_whenever_the_database_volume_exists():
    names = [s.name for s in prodplans.plan_deploy("v2", 60, running=False, has_data=True)[0]]
    assert "start the database for the backup" in names
    assert "take a verified pre-deploy backup (dump, read back, checksum, metadata)" in names
    running = [s.name for s in prodplans.plan_deploy("v2", 60, running=True, has_data=True)[0]]
    assert "start the database for the backup" not in running
    fresh = [s.name for s in prodplans.plan_deploy("v2", 60, running=False, has_data=False)[0]]
    assert not any("take a verified" in name for name in fresh)  # a first deploy has nothing to back up


def test_prod_up_starts_the_deployed_tag_not_the_checkout(monkeypatch, capsys):
    monkeypatch.setattr(deploys, "deployed", lambda project: {"current": "v7", "previous": "v6"})
    prod.up(MockContext(), dry_run=True)
    assert "IMAGE_TAG=v7 docker compose" in capsys.readouterr().out


def test_preflight_refuses_the_example_secrets_and_console_mail_on_a_public_address(monkeypatch, tmp_path):
    env = tmp_path / ".env.prod"
    example = (ROOT / ".env.example").read_text()
    values = dict(line.split("=", 1) for line in example.splitlines() if "=" in line and not line.startswith("#"))
    env.write_text(
        f"SECRET_KEY={values['SECRET_KEY']}\nPOSTGRES_PASSWORD={values['POSTGRES_PASSWORD']}\n"
        "REDIS_PASSWORD=a-fresh-one-0123456789\nALLOWED_HOSTS=shop.example.com\n"
        f"EMAIL_URL=consolemail://\nHTTP_BIND=0.0.0.0\nSECRETS_DIR={tmp_path / 'secrets'}\n"
    )
    monkeypatch.setenv("DESIDELIVER_ENV_FILE", str(env))
    for name in ("SECRET_KEY", "POSTGRES_PASSWORD", "REDIS_PASSWORD", "EMAIL_URL", "HTTP_BIND"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(Exit) as refused:
        prodplans.preflight()
    message = refused.value.message
    assert "SECRET_KEY is the value published" in message
    assert "POSTGRES_PASSWORD is the value published" in message
    assert "REDIS_PASSWORD" not in message
    assert "EMAIL_URL=consolemail://" in message


def test_console_mail_is_fine_for_a_trial_on_loopback(monkeypatch, tmp_path):
    env = tmp_path / ".env.prod"
    env.write_text(
        f"SECRET_KEY=fresh-0123456789\nEMAIL_URL=consolemail://\nHTTP_BIND=127.0.0.1\nSECRETS_DIR={tmp_path}\n"
    )
    monkeypatch.setenv("DESIDELIVER_ENV_FILE", str(env))
    prodplans.ensure_secrets()
    monkeypatch.delenv("EMAIL_URL", raising=False)
    monkeypatch.delenv("HTTP_BIND", raising=False)
    assert prodplans.unsafe_settings() == []


def test_the_deploy_record_is_never_left_half_written(monkeypatch, tmp_path):
    """Every compose command reads the record for IMAGE_TAG: a write that dies midway keeps the old one whole."""
    path = tmp_path / "deploy" / "p.json"
    monkeypatch.setattr(deploys, "record_path", lambda project: path)
    deploys.record("p", "v1")
    deploys.record("p", "v2")
    assert deploys.deployed("p") == {"current": "v2", "previous": "v1"}

    class DiesMidway:
        """The temporary file gets half the record on disk, then the write fails (a full disk, a kill)."""

        def __init__(self, sink: io.TextIOWrapper) -> None:
            self.sink = sink

        def __enter__(self) -> "DiesMidway":
            return self

        def __exit__(self, *failure: object) -> None:
            self.sink.close()

        def write(self, text: str) -> int:
            self.sink.write(text[: len(text) // 2])
            self.sink.flush()
            raise OSError(errno.ENOSPC, "No space left on device")

    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda fd, mode: DiesMidway(real_fdopen(fd, mode)))
    with pytest.raises(OSError, match="No space left"):
        deploys.record("p", "v3")
    assert deploys.deployed("p") == {"current": "v2", "previous": "v1"}
    assert [p.name for p in path.parent.iterdir()] == ["p.json"]  # and no temporary file left behind
