"""Backups and restores: the checks before anything is touched, the lock, and the plans."""

import json
import os
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from invoke import MockContext
from invoke.exceptions import Exit

from tasks.lib import checks, lock
from tasks.lib import stack as _stack
from tasks.lib.db import backups, database, restores
from tests.helpers import ROOT, fake_commands

DEV = _stack.stack("dev")
NOW = datetime(2026, 11, 22, 1, 2, 3, tzinfo=UTC)


@pytest.fixture
def backup_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKUP_DIR", str(tmp_path))
    return tmp_path


def write_backup(directory, name, content=b"PGDMP-fake-dump", environment="dev", kind="regular", created=""):
    path = directory / name
    path.write_bytes(content)
    backups.sidecar(path, "sha256").write_text(f"{backups.sha256(path)}  {name}\n")
    facts = {"environment": environment, "kind": kind, "created_at": created or name, "size_bytes": len(content)}
    backups.sidecar(path, "json").write_text(json.dumps(facts))
    return path


def test_latest_is_the_newest_regular_backup_of_that_environment(backup_dir):
    write_backup(backup_dir, "a.dump", created="2026-11-01T00:00:00+00:00")
    newest = write_backup(backup_dir, "b.dump", created="2026-11-02T00:00:00+00:00")
    write_backup(backup_dir, "c.dump", kind="pre-restore", created="2026-11-03T00:00:00+00:00")
    write_backup(backup_dir, "d.dump", environment="prod", created="2026-11-04T00:00:00+00:00")
    (backup_dir / "e.dump.partial").write_bytes(b"half")
    assert backups.resolve("dev", "latest") == newest


def damage_empty(path):
    path.write_bytes(b"")


def damage_content(path):
    path.write_bytes(b"PGDMP-other-bytes")


def damage_checksum_file(path):
    backups.sidecar(path, "sha256").write_text("")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (damage_empty, "is empty"),
        (damage_content, "does not match its checksum"),
        (damage_checksum_file, "has an empty or unreadable checksum file"),
    ],
)
@pytest.mark.parametrize("how", ["latest", "by name"])
def test_every_restore_input_gets_the_same_checks(backup_dir, damage, message, how):
    dump = write_backup(backup_dir, "x.dump", created="2026-11-01T00:00:00+00:00")
    damage(dump)
    with pytest.raises(Exit, match=message) as refused:
        backups.resolve("dev", "latest" if how == "latest" else "x.dump")
    assert refused.value.code == 2


def test_missing_names_and_directories_are_told_apart(backup_dir):
    with pytest.raises(Exit, match="does not exist"):
        backups.resolve("dev", "nope.dump")
    (backup_dir / "sub").mkdir()
    with pytest.raises(Exit, match="is a directory; name a backup file in it"):
        backups.resolve("dev", str(backup_dir / "sub"))
    with pytest.raises(Exit, match=r"no dev backups .* ./inv db.backup --env dev"):
        backups.resolve("dev", "latest")


def test_the_listing_survives_a_broken_checksum_file_and_marks_it(backup_dir):
    dump = write_backup(backup_dir, "x.dump")
    backups.sidecar(dump, "sha256").write_text("")
    assert backups.checksum_state(dump) == "unreadable"
    assert [b.dump for b in backups.listing()] == [dump]


def test_an_unusable_backups_directory_is_one_line_not_a_traceback(tmp_path, monkeypatch):
    blocker = tmp_path / "backups"
    blocker.write_text("a file, not a directory")
    monkeypatch.setenv("BACKUP_DIR", str(blocker))
    with pytest.raises(Exit, match="is a file, not a directory"):
        backups.prepare_dir()
    monkeypatch.setenv("BACKUP_DIR", "/proc/desideliver-backups")
    with pytest.raises(Exit, match="is not usable"):
        backups.prepare_dir()


def test_the_backups_directory_is_private(backup_dir):
    backup_dir.chmod(0o755)
    assert backups.prepare_dir().stat().st_mode & 0o777 == 0o700


def test_a_second_operation_on_the_same_stack_is_refused_naming_the_holder(backup_dir):
    with lock.held(DEV, "db.restore of x.dump"):
        refused = pytest.raises(Exit, match=r"cannot start prod.deploy: db.restore of x.dump \(pid \d+")
        with refused, lock.held(DEV, "prod.deploy", wait=0.6):
            pass  # pragma: no cover - never reached
        with lock.held(_stack.stack("prod"), "prod.deploy"):
            pass  # another stack has its own lock
    with lock.held(DEV, "db.backup"):
        pass  # released when the holder ends


def test_a_dump_from_a_newer_postgres_is_refused(backup_dir, monkeypatch):
    dump = write_backup(backup_dir, "x.dump")
    # The dump's header, then the server's version: one round trip.
    listing = SimpleNamespace(returncode=0, stderr="", stdout=";     Dumped from database version: 18.1\n170011\n")
    monkeypatch.setattr(database, "run", lambda *a, **k: listing)
    with pytest.raises(Exit, match="made by PostgreSQL 18, newer than this server \\(17\\)"):
        database.check_versions(DEV, dump)


def test_restore_restores_and_migrates_aside_then_swaps_atomically_while_paused(backup_dir):
    swap = restores.Swap.at("desideliver", NOW)
    assert (swap.scratch, swap.previous, swap.failed) == (
        "desideliver_restore_20261122010203",
        "desideliver_before_restore_20261122010203",
        "desideliver_failed_restore_20261122010203",
    )
    prepare = restores.plan_prepare_restore(DEV, backup_dir / "x.dump", swap, verified=False, user="app")
    names = [s.name for s in prepare]
    # First, before anything is created: room for the scratch copy, then the full read of the file.
    assert names[:2] == [
        "check the database's volume has room for the scratch copy",
        "check the file is a complete PostgreSQL dump",
    ]
    # The safety backup of the live database, the scratch one created and restored into, and the drop of
    # what earlier restores kept, run at once; all end before the swap.
    assert names[-2:] == [
        "take a verified pre-restore backup (dump, read back, checksum, metadata), "
        "and at once create a scratch database, and have the app's role restore into it; "
        "drop the databases earlier restores kept",
        "apply migrations to the restored database",
    ]
    at_once = prepare[-2].command
    assert "backup-once.sh pre-restore" in at_once
    assert at_once.index("CREATE DATABASE") < at_once.index("ALTER SCHEMA public OWNER") < at_once.index("pg_restore")
    # The app's role restores on its own connection: the dump's functions never run as the superuser.
    assert "pg_restore -U app " in at_once
    assert "--role" not in at_once
    assert "DROP DATABASE %I WITH (FORCE)" in at_once
    assert "desideliver_before_restore_" in at_once
    assert f"DATABASE_URL=postgres://app@db:5432/{swap.scratch}" in prepare[-1].command
    verified = restores.plan_prepare_restore(DEV, backup_dir / "x.dump", swap, verified=True, user="app")
    assert "check the file is a complete PostgreSQL dump" not in [s.name for s in verified]  # read when written
    same_schema = restores.plan_prepare_restore(DEV, backup_dir / "x.dump", swap, True, "app", migrate=False)
    assert "restore into it" in [s.name for s in same_schema][-1]  # nothing to migrate
    switch = restores.plan_switch(DEV, swap, ["web", "worker"])
    assert [s.name for s in switch] == [
        "note what to undo if this run dies",  # a run killed while the app is paused: the next one resumes it
        "pause the app services",
        "swap the restored database in",
        "resume the app services",
        "clear that note",
    ]
    assert switch[1].command.endswith(" pause web worker")
    assert not any("CHECKPOINT" in s.command for s in switch)  # the pause holds only the renames
    assert " -1 -c " in switch[2].command  # both renames in one transaction
    assert switch[2].command.index(swap.previous) < switch[2].command.index(swap.scratch)


def test_a_failure_after_the_swap_puts_the_previous_database_back(backup_dir, monkeypatch):
    """The decision and the order of the renames, with the executor replaced.

    The swap-back's SQL runs against PostgreSQL in tests/e2e/test_backup_restore.py
    (test_a_restore_that_fails_after_the_swap_puts_the_previous_database_back).
    """
    from tasks import db

    swap = restores.Swap.at("desideliver", NOW)
    plan = db.Restore(DEV, backup_dir / "x.dump", swap, ["web"], True, "app")
    ran = []

    def execute(steps, dry_run=False):
        ran.append([s.name for s in steps])
        if steps[0].name.startswith("wait until the app is ready"):
            raise Exit("✗ the app did not become ready within 120s: 503", code=1)

    monkeypatch.setattr(db, "execute", execute)
    monkeypatch.setattr(restores, "execute", execute)
    with pytest.raises(Exit, match="failed after the swap and was undone: the previous database is live again"):
        db.restore_locked(plan, NOW)
    back = ran[-1]
    assert "swap the previous database back in (the restored one is kept aside)" in back
    assert back[-1] == "wait until the app is ready (database, cache, migrations)"
    renames = next(s.command for s in restores.plan_swap_back(DEV, swap) if s.name.startswith("swap the previous"))
    # live -> failed, previous -> live: the restored copy is kept, the old data is live again.
    assert renames.index(swap.failed) < renames.index(swap.previous)


def test_a_resume_that_fails_after_the_swap_says_the_restored_database_is_live_and_drops_nothing(
    backup_dir, monkeypatch
):
    from tasks import db

    swap = restores.Swap.at("desideliver", NOW)
    plan = db.Restore(DEV, backup_dir / "x.dump", swap, ["web"], True, "app")
    ran = []

    def execute(steps, dry_run=False):
        ran.extend(s.name for s in steps)
        if steps[0].name == "resume the app services":
            raise Exit("✗ 'step 1/2 resume the app services' failed with exit code 1", code=1)

    monkeypatch.setattr(db, "execute", execute)
    monkeypatch.setattr(restores, "execute", execute)
    with pytest.raises(Exit, match=r"x.dump is live in 'desideliver' .* but resuming the app failed") as failed:
        db.restore_locked(plan, NOW)
    assert "./inv dev.ps shows the services and resumes any left paused" in failed.value.message
    assert restores.SWAP_STEP in ran
    assert "drop the scratch database" not in ran  # the scratch database is the live one now


def test_a_database_an_earlier_restore_kept_that_cannot_be_dropped_only_warns(monkeypatch, capsys):
    def refused(command, step, **kwargs):
        raise Exit(f"✗ '{step}' failed: database is being accessed by other users", code=1)

    monkeypatch.setattr(database, "output", refused)
    restores.drop_older_step(DEV, restores.Swap.at("desideliver", NOW)).action()  # the restore goes on
    assert "were not dropped (✗ 'drop the databases earlier restores kept' failed" in capsys.readouterr().out


def test_identifiers_and_literals_are_quoted():
    assert database.ident('we"ird') == '"we""ird"'
    assert database.literal("it's") == "'it''s'"


def test_a_failed_transfer_leaves_no_snapshot_behind(tmp_path, monkeypatch):
    from tasks import db

    source = tmp_path / "native.sqlite3"
    source.write_bytes(b"SQLite format 3\x00")
    monkeypatch.setenv("BACKUP_DIR", str(tmp_path / "backups"))
    monkeypatch.setattr(db, "ROOT", tmp_path)  # the snapshot goes to ROOT/var
    monkeypatch.setattr(db.transfer_plan, "ROOT", tmp_path)  # and is named relative to it
    monkeypatch.setattr(_stack.Stack, "require_running", lambda self, service, task: None)
    monkeypatch.setattr(db.transfer_plan, "counts", lambda *a, **k: {})
    written = []

    def failing_execute(plan, dry_run=False):
        snapshot = next(s.command.split("--output ")[1].split()[0] for s in plan if "--output" in s.command)
        written.append(snapshot)
        with open(snapshot, "w") as f:  # what dumpdata writes: user rows with password hashes
            f.write("[]")
        raise Exit("✗ 'step 3/4 load into PostgreSQL' failed with exit code 1", code=1)

    monkeypatch.setattr(db, "execute", failing_execute)
    with pytest.raises(Exit, match="load into PostgreSQL"):
        db.transfer(MockContext(), source=str(source))
    assert written
    assert not any(os.path.exists(path) for path in written)


@pytest.mark.skipif(os.getuid() != 0, reason="only root may give files away (CI runs as root)")
def test_as_root_the_backups_directory_and_lock_belong_to_the_container_user(backup_dir, monkeypatch):
    monkeypatch.setenv("HOST_UID", "4242")
    monkeypatch.setenv("HOST_GID", "4343")
    directory = backups.prepare_dir()
    with lock.held(DEV, "db.backup"):
        pass
    for path in (directory, directory / ".lock-dev"):
        assert (path.stat().st_uid, path.stat().st_gid) == (4242, 4343), path


def test_the_migration_state_is_one_query_and_empty_for_a_database_django_never_touched(monkeypatch):
    import subprocess

    answers = {
        "never": (1, "", 'ERROR:  relation "django_migrations" does not exist'),
        "migrated": (0, "catalog|0002_x\norders|0001_initial\n", ""),
        "down": (2, "", "could not connect to server"),
    }
    calls = []

    def run(command, **kwargs):
        calls.append(command)
        code, out, err = answers[state]
        return subprocess.CompletedProcess(command, code, out, err)

    monkeypatch.setattr(database, "run", run)
    monkeypatch.setattr(database, "app_user", lambda s: "desideliver_app")
    state = "never"
    assert database.migration_state(DEV) == {}
    state = "migrated"
    assert database.migration_state(DEV) == {"catalog": "0002_x", "orders": "0001_initial"}
    assert len(calls) == 2  # one round trip each
    # As the app's role, never the superuser: the app owns django_migrations (tests/scripts/test_backup_scripts.py
    # reads a view over an escalating function with it).
    assert "psql -X -U desideliver_app " in calls[0]
    assert "POSTGRES_USER" not in calls[0]
    state = "down"
    with pytest.raises(Exit, match="could not read the applied migrations: could not connect"):
        database.migration_state(DEV)


def test_a_backup_of_another_environment_is_refused_unless_asked_for(backup_dir):
    write_backup(backup_dir, "dev.dump", environment="dev")
    with pytest.raises(Exit, match=r"dev.dump is a backup of the dev stack .* add --other-env") as refused:
        backups.resolve("prod", "dev.dump")
    assert refused.value.code == 2
    assert backups.resolve("prod", "dev.dump", other_env=True) == backup_dir / "dev.dump"
    assert backups.resolve("dev", "dev.dump") == backup_dir / "dev.dump"


def test_db_restore_refuses_a_dev_backup_for_prod_before_anything_runs(backup_dir, monkeypatch):
    from tasks import db

    write_backup(backup_dir, "dev.dump", environment="dev")
    monkeypatch.setattr(db, "execute", lambda *a, **k: pytest.fail("nothing may run"))
    with pytest.raises(Exit, match="is a backup of the dev stack"):
        db.restore.body(MockContext(), "dev.dump", env="prod", yes=True, dry_run=True)


# Keywords written like calls; everything else before "(" is a function, looked up through the search_path
# unless qualified.
SQL_KEYWORDS = {"in", "exists", "with", "values", "not", "and", "or", "any", "all"}
SEARCH_PATH = 'PGOPTIONS="-c search_path=pg_catalog"'


def unqualified_calls(sql: str) -> set[str]:
    calls = re.findall(r'(?<![\w.$"])([A-Za-z_][\w$]*)\s*\(', sql)
    return {name for name in calls if name.lower() not in SQL_KEYWORDS}


def superuser_sql(monkeypatch) -> dict[str, str]:
    """Every command and script that runs SQL as the superuser, by where it comes from."""
    swap = restores.Swap.at("desideliver", NOW)
    steps = [
        *restores.plan_prepare_restore(DEV, Path("x.dump"), swap, verified=True, user="app"),
        *restores.plan_switch(DEV, swap, []),
        *restores.plan_recover(DEV, swap, []),
        restores.drop_older_step(DEV, swap),
        restores.version_step(DEV, Path("x.dump")),
    ]
    found = {step.name: step.command for step in steps if "psql" in step.command}
    ran: list[str] = []
    monkeypatch.setattr(database, "output", lambda command, **kwargs: ran.append(command) or "f")
    checks.check_app_role(DEV)
    found["checks.check_app_role"] = ran[-1]
    scripts = ROOT / "docker" / "backup"
    found["ensure-app-role.sh"] = (scripts / "ensure-app-role.sh").read_text()
    # backup-once.sh reads the migrations as the app's role (tests/scripts/test_backup_scripts.py): not its SQL.
    once = (scripts / "backup-once.sh").read_text()
    found["backup-once.sh"] = re.sub(r"'SELECT app, max\(name\) FROM django_migrations[^']*'", "", once)
    return found


def test_superuser_sql_looks_names_up_in_pg_catalog_only_and_qualifies_every_function(monkeypatch):
    """The app owns the public schema: an unqualified name could resolve to a function or view it made."""
    found = superuser_sql(monkeypatch)
    assert len(found) >= 8
    for origin, text in found.items():
        if origin.endswith(".sh"):
            assert f"export {SEARCH_PATH}" in text, origin
            sql = "\n".join(re.findall(r"<<'SQL'\n(.*?)\nSQL\n", text, re.S) + re.findall(r"-c '([^']*)'", text))
        else:
            assert text.count(SEARCH_PATH) == text.count("psql -X"), origin
            sql = text
        assert sql.strip(), origin
        assert unqualified_calls(sql) == set(), origin


def room_check(tmp_path, sizes: str, free: int, psql_fails: bool = False) -> subprocess.CompletedProcess:
    """restores.ROOM_SCRIPT under bash, as in the db container, with `psql` and `df` faked on PATH."""
    psql = "echo 'FATAL: the database system is starting up' >&2; exit 2" if psql_fails else f"echo '{sizes}'"
    df = f"echo 'Filesystem 1-blocks Used Available Capacity Mounted on'; echo \"/dev/x 9 9 {free} 50% $3\""
    fake = fake_commands(tmp_path / "bin", psql=f'echo "$PGOPTIONS $*" > {tmp_path}/psql-args\n{psql}', df=df)
    environment = {
        "PATH": f"{fake}:{os.environ['PATH']}",
        "PGDATA": "/var/lib/postgresql/data",
        "POSTGRES_USER": "su",
        "POSTGRES_DB": "desideliver",
    }
    command = ["bash", "-c", restores.ROOM_SCRIPT, "room", "SELECT 1"]
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=30)


MB = 1_000_000


def test_the_room_check_refuses_when_the_volume_cannot_hold_the_scratch_copy_naming_both_figures(tmp_path):
    enough = room_check(tmp_path, f"{1000 * MB}|", free=1300 * MB)
    assert enough.returncode == 0, enough.stderr
    assert enough.stdout.strip() == (
        "room: 1300 MB free on the database's volume, plus 0 MB that earlier restores kept; "
        "the scratch copy needs 1200 MB"
    )
    # The superuser's psql, names looked up in pg_catalog only, with the query given.
    assert (tmp_path / "psql-args").read_text().startswith("-c search_path=pg_catalog -X -v ON_ERROR_STOP=1 -U su")

    short = room_check(tmp_path, f"{1000 * MB}|", free=1100 * MB)
    assert short.returncode == restores.NO_ROOM
    assert short.stderr.count("\n") == 1  # one line
    assert "not enough room to restore: 1100 MB free on the database's volume" in short.stderr
    assert "the scratch copy needs 1200 MB, 120% of the live database's 1000 MB" in short.stderr
    assert "Free space on that volume or grow it, then retry." in short.stderr

    # What earlier restores kept is dropped by this one: room it can count on.
    assert room_check(tmp_path, f"{1000 * MB}|{500 * MB}", free=800 * MB).returncode == 0


def test_a_room_check_that_cannot_measure_fails_as_such_not_as_a_refusal(tmp_path):
    broken = room_check(tmp_path, "", free=1, psql_fails=True)
    assert broken.returncode not in (0, restores.NO_ROOM)
    assert "starting up" in broken.stderr
    unreadable = room_check(tmp_path, "|", free=5)
    assert unreadable.returncode == 1
    assert "could not read the sizes" in unreadable.stderr


def test_a_restore_without_room_stops_before_anything_is_created(backup_dir, monkeypatch):
    from tasks.lib import run as runner

    swap = restores.Swap.at("desideliver", NOW)
    plan = restores.plan_prepare_restore(DEV, backup_dir / "x.dump", swap, verified=False, user="app")
    refusal = "not enough room to restore: 10 MB free on the database's volume, ... then retry.\n"
    measured = SimpleNamespace(returncode=restores.NO_ROOM, stdout="", stderr=refusal)
    monkeypatch.setattr(restores, "run", lambda command, **kwargs: measured)
    ran = []
    monkeypatch.setattr(runner, "run", lambda command, **kwargs: ran.append(command))
    with pytest.raises(Exit, match=r"^✗ not enough room to restore: 10 MB free") as refused:
        runner.execute(plan)
    assert "\n" not in refused.value.message
    assert ran == []  # no full read, no backup, no scratch database
