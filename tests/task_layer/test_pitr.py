"""Point-in-time recovery's task side: what --to accepts, the window it refuses outside, what db.backups says.

The restore itself runs on the real engine: tests/e2e/test_pitr.py.
"""

from datetime import UTC, datetime, timedelta

import pytest
from invoke.exceptions import Exit

from tasks.lib import prodplans
from tasks.lib import stack as _stack
from tasks.lib.pitr import cluster_restore, repository
from tests.helpers import inv

PROD = _stack.stack("prod")


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("latest", "latest", ""),
        ("before-deploy:v42", "name", "before-deploy:v42"),
        ("2026-12-05 14:03:27+00", "time", "2026-12-05 14:03:27+00:00"),
        # Any offset is taken, and given to PostgreSQL in UTC.
        ("2026-12-05T16:03:27+02:00", "time", "2026-12-05 14:03:27+00:00"),
    ],
)
def test_targets_are_parsed_into_pgbackrest_recovery_types(text, kind, value):
    target = repository.Target.parse(text)
    assert (target.kind, target.value) == (kind, value)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("2026-12-05 14:03:27", "has no UTC offset"),
        ("yesterday", "is not a time"),
        ("before-deploy:", "is not a time"),
    ],
)
def test_a_target_that_is_not_one_is_refused_naming_the_forms(text, why):
    with pytest.raises(Exit) as refused:
        repository.Target.parse(text)
    assert refused.value.code == 2
    assert why in refused.value.message
    assert "latest, before-deploy:TAG, or a time such as '2026-12-05 14:03:27+00'" in refused.value.message


def backup(stop: datetime, kind: str = "full") -> dict:
    return {
        "label": f"{stop:%Y%m%d-%H%M%S}F",
        "type": kind,
        "timestamp": {"start": stop.timestamp() - 5, "stop": stop.timestamp()},
        "info": {"size": 32_000_000, "repository": {"delta": 6_000_000}},
    }


def test_a_time_outside_the_recoverable_window_is_refused_naming_the_window():
    oldest = datetime(2026, 12, 1, 3, 0, 0, tzinfo=UTC)
    repo = repository.Repository([backup(oldest), backup(oldest + timedelta(days=1), "diff")], [], "ok")
    with pytest.raises(Exit) as before:
        repo.check(repository.Target.parse("2026-11-30 12:00:00+00"))
    assert "is before the recoverable window (2026-12-01 03:00:00+00 .. the end of the archive)" in before.value.message
    with pytest.raises(Exit) as future:
        repo.check(repository.Target.parse((datetime.now(UTC) + timedelta(hours=1)).isoformat()))
    assert "is in the future" in future.value.message
    repo.check(repository.Target.parse("2026-12-02 12:00:00+00"))  # inside: no refusal
    repo.check(repository.Target("latest"))


def test_a_chosen_backup_must_be_in_the_repository_and_end_before_the_target():
    oldest = datetime(2026, 12, 1, 3, 0, 0, tzinfo=UTC)
    repo = repository.Repository([backup(oldest), backup(oldest + timedelta(days=1))], [], "ok")
    with pytest.raises(Exit) as unknown:
        repo.check(repository.Target("latest"), "20261130-030000F")
    assert unknown.value.code == 2
    assert "--backup '20261130-030000F' is not in the repository; its backups: 20261201-030000F, 20261202-030000F" in (
        unknown.value.message
    )
    with pytest.raises(Exit) as early:
        repo.check(repository.Target.parse("2026-12-01 12:00:00+00"), "20261202-030000F")
    assert "is before backup 20261202-030000F ended (2026-12-02 03:00:00+00)" in early.value.message
    # The earlier backup reaches that time, and the newest any later one.
    repo.check(repository.Target.parse("2026-12-01 12:00:00+00"), "20261201-030000F")
    repo.check(repository.Target.parse("2026-12-02 12:00:00+00"), "20261202-030000F")


def test_an_empty_repository_refuses_every_target():
    with pytest.raises(Exit, match="holds no backup yet"):
        repository.Repository([], [], "missing").check(repository.Target("latest"))


def test_db_backups_says_when_archiving_fails_and_when_it_works(capsys):
    stop = datetime(2026, 12, 5, 12, 0, 0, tzinfo=UTC)
    failing = repository.Repository(
        [backup(stop)],
        [{"min": "000000010000000000000001", "max": "000000010000000000000009"}],
        "ok",
        last_archived=stop + timedelta(minutes=1),
        last_failed=stop + timedelta(minutes=2),
        failed_wal="00000001000000000000000A",
    )
    repository.show(failing)
    shown = capsys.readouterr().out
    assert "recoverable window 2026-12-05 12:00:00+00 .. 2026-12-05 12:01:00+00" in shown
    assert "archiving FAILS: 00000001000000000000000A at 2026-12-05 12:02:00+00" in shown
    repository.show(repository.Repository([backup(stop)], [], "ok", last_archived=stop + timedelta(minutes=3)))
    assert "archiving works: last segment archived 2026-12-05 12:03:00+00" in capsys.readouterr().out


def test_db_backups_shows_the_last_drill_and_marks_a_failed_one(capsys):
    stop = datetime(2026, 12, 5, 12, 0, 0, tzinfo=UTC)
    record = {"finished": "2026-12-05T13:00:00Z", "seconds": 7, "backup": "20261205-120000F", "tables": 20}
    passed = {**record, "result": "passed", "reason": "", "replayed_to": "2026-12-05T12:59:00Z", "rows": 116}
    repository.show(repository.Repository([backup(stop)], [], "ok", drill=passed))
    assert (
        "   last restore drill 2026-12-05T13:00:00Z (7 s) passed: 20261205-120000F replayed to 2026-12-05T12:59:00Z, "
        "20 tables, 116 rows checked"
    ) in capsys.readouterr().out
    failed = {**passed, "result": "failed", "reason": "the repository holds damaged files: invalid checksum 'x'"}
    repository.show(repository.Repository([backup(stop)], [], "ok", drill=failed))
    assert " ✗ last restore drill 2026-12-05T13:00:00Z (7 s) FAILED: the repository holds damaged" in (
        capsys.readouterr().out
    )
    repository.show(repository.Repository([backup(stop)], [], "ok"))
    assert "no restore drill yet" in capsys.readouterr().out


def test_the_restore_switches_only_restored_clusters_and_puts_back_only_what_it_moved():
    plan = cluster_restore.ClusterRestore(
        PROD, repository.Target("latest"), datetime(2026, 12, 5, 12, 0, 0, tzinfo=UTC), frozenset({"db", "web", "pitr"})
    )
    switch = " ".join(step.command for step in plan.switch())
    assert "mv -T current previous-20261205120000; fi && mv -T restore-20261205120000 current" in switch
    assert "stop db pitr" in switch
    assert "pause web" in switch
    back = " ".join(step.command for step in plan.switch_back())
    # A failure before the switch renamed anything leaves current/ where it is.
    assert "if [ -d previous-20261205120000 ]; then mv -T current failed-20261205120000" in back


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["db.restore", "--to", "yesterday", "--env", "prod"], "✗ --to 'yesterday' is not a time"),
        (["db.restore", "--to", "latest"], "✗ --to restores prod's cluster to a point: give --env prod and no FILE."),
        (["db.restore", "latest", "--to", "latest", "--env", "prod"], "give --env prod and no FILE"),
        (["db.drill", "--env", "dev"], "✗ dev has no point-in-time backups to drill; the drill runs on prod"),
        (["db.restore", "latest", "--backup", "20261201-030000F"], "✗ --backup names a point-in-time backup set"),
    ],
)
def test_wrong_restore_targets_are_one_line_before_anything_runs(args, message):
    result = inv(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_to_stands_in_for_the_dump_name_on_the_command_line():
    # Invoke requires every positional argument; --to fills FILE, so this parses and reaches the dry run.
    result = inv("db.restore", "--to", "latest", "--env", "prod", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "restore the cluster beside the live one and replay it to latest" in result.stdout
    assert "On a failure after the switch these would run:" in result.stdout


def test_a_chosen_backup_reaches_the_restore_script():
    result = inv("db.restore", "--to", "latest", "--backup", "20261201-030000F", "--env", "prod", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "restore the cluster beside the live one from backup 20261201-030000F and replay it to latest" in (
        result.stdout
    )
    assert "-e PITR_BACKUP=20261201-030000F pitr-restore pitr-restore.sh" in result.stdout


def test_a_restore_to_before_the_serving_deploy_is_refused_until_it_is_rolled_back(monkeypatch):
    monkeypatch.setattr(repository.deploys, "deployed", lambda project: {"current": "v42", "previous": "v41"})
    with pytest.raises(Exit) as refused:
        repository.refuse_undoing_the_serving_deploy(PROD, repository.Target.parse("before-deploy:v42"))
    assert refused.value.code == 2
    assert ":v42 is still serving" in refused.value.message
    assert "Roll back first (./inv prod.rollback), then run this again." in refused.value.message
    repository.refuse_undoing_the_serving_deploy(PROD, repository.Target.parse("latest"))
    # Rolled back: v41 serves, and the restore to before v42 goes ahead.
    monkeypatch.setattr(repository.deploys, "deployed", lambda project: {"current": "v41", "previous": "v42"})
    repository.refuse_undoing_the_serving_deploy(PROD, repository.Target.parse("before-deploy:v42"))


@pytest.mark.parametrize(
    ("settings", "key", "problem"),
    [
        ({}, "", ""),  # no off-host repository: nothing to check
        ({"PITR_OFFSITE": "backup.example.com:/srv"}, "", "is not sftp://USER@HOST[:PORT]/ABSOLUTE/PATH"),
        ({"PITR_OFFSITE": "sftp://pgbackrest@backup.example.com/srv/repo", "PITR_OFFSITE_FINGERPRINT": "SHA256:x"},
         "", "PITR_OFFSITE_FINGERPRINT must be the SHA-256 of the SFTP server's host key (64 hex digits)"),
        ({"PITR_OFFSITE": "sftp://pgbackrest@backup.example.com:2222/srv/repo", "PITR_OFFSITE_FINGERPRINT": "ab" * 32},
         "", "offsite_ssh_key holds no private key; put the one the SFTP server authorizes there"),
        ({"PITR_OFFSITE": "sftp://pgbackrest@backup.example.com:2222/srv/repo", "PITR_OFFSITE_FINGERPRINT": "ab" * 32},
         "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn...\n-----END OPENSSH PRIVATE KEY-----\n", ""),
    ],
)  # fmt: skip
def test_an_off_host_repository_that_cannot_work_is_refused_before_anything_starts(
    monkeypatch, tmp_path, settings, key, problem
):
    env = tmp_path / ".env.prod"
    env.write_text(f"SECRETS_DIR={tmp_path}\n" + "".join(f"{k}={v}\n" for k, v in settings.items()))
    monkeypatch.setenv("DESIDELIVER_ENV_FILE", str(env))
    for name in ("PITR_OFFSITE", "PITR_OFFSITE_FINGERPRINT", "PITR_OFFSITE_INTERNAL"):
        monkeypatch.delenv(name, raising=False)
    prodplans.ensure_secrets()  # the key's file exists either way (compose mounts it), holding no key
    if key:
        (tmp_path / "offsite_ssh_key").write_text(key)
    assert (problem in prodplans.offsite_problem()) if problem else prodplans.offsite_problem() == ""
    # The offsite network has a route out exactly when the repository is set.
    assert repository.offsite_network() == {"PITR_OFFSITE_INTERNAL": "false" if settings else "true"}


def test_db_backups_says_which_repository_each_backup_is_in_and_which_one_it_cannot_read(capsys):
    stop = datetime(2026, 12, 5, 12, 0, 0, tzinfo=UTC)
    local, off_host = backup(stop), {**backup(stop + timedelta(hours=1)), "database": {"repo-key": 2}}
    repository.show(
        repository.Repository(
            [local, off_host],
            [{"min": "000000010000000000000001", "max": "000000010000000000000009", "database": {"repo-key": 2}}],
            "ok",
            unreadable=("the local repository: [055]: unable to load info file",),
        )
    )
    shown = capsys.readouterr().out
    assert "  local    full  20261205-120000F" in shown
    assert "  off-host full  20261205-130000F" in shown
    assert "  off-host WAL 000000010000000000000001 .. 000000010000000000000009" in shown
    assert "  ✗ the local repository: [055]: unable to load info file" in shown


def test_a_restore_refuses_repositories_that_hold_different_clusters():
    """A new host's first deploy backs up its own empty database locally: restoring that would "succeed" empty."""
    stanza = {
        "db": [
            {"id": 1, "repo-key": 1, "system-id": 7401, "version": "17"},
            {"id": 1, "repo-key": 2, "system-id": 7399, "version": "17"},
        ]
    }
    assert repository.clusters_of(stanza) == ((1, 7401), (2, 7399))
    stop = datetime(2026, 12, 5, 12, 0, 0, tzinfo=UTC)
    mixed = repository.Repository([backup(stop)], [], "ok", clusters=repository.clusters_of(stanza))
    with pytest.raises(Exit) as refused:
        mixed.check(repository.Target("latest"))
    assert refused.value.code == 2
    assert "hold different clusters (system ids local 7401, off-host 7399)" in refused.value.message
    stanza["db"][0]["system-id"] = 7399
    repository.Repository([backup(stop)], [], "ok", clusters=repository.clusters_of(stanza)).check(
        repository.Target("latest")
    )
