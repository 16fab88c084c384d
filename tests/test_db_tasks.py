"""Backup and restore logic that needs no database: names, checks, plans."""

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from invoke.exceptions import Exit

from tasks import _stack, db

DEV = _stack.stack("dev")
NOW = datetime(2026, 11, 22, 1, 2, 3, tzinfo=UTC)


@pytest.fixture
def backups(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKUP_DIR", str(tmp_path))
    return tmp_path


def write_backup(directory, name, content=b"PGDMP-fake-dump"):
    path = directory / name
    path.write_bytes(content)
    db.checksum_file(path).write_text(f"{db.sha256(path)}  {name}\n")
    return path


def test_backup_names_sort_by_time_and_mark_safety_backups():
    assert db.backup_name(DEV, NOW) == "desideliver-dev-20261122T010203Z.dump"
    assert db.backup_name(DEV, NOW, "pre-restore") == "desideliver-dev-20261122T010203Z-pre-restore.dump"


def test_latest_is_the_newest_regular_backup_of_that_environment(backups):
    write_backup(backups, "desideliver-dev-20261101T000000Z.dump")
    newest = write_backup(backups, "desideliver-dev-20261102T000000Z.dump")
    write_backup(backups, "desideliver-dev-20261103T000000Z-pre-restore.dump")
    write_backup(backups, "desideliver-prod-20261104T000000Z.dump")
    (backups / "desideliver-dev-20261105T000000Z.dump.partial").write_bytes(b"half")
    assert db.resolve_backup(DEV, "latest") == newest


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: None, "does not exist"),
        (lambda d: (d / "x.dump").write_bytes(b""), "is empty"),
        (
            lambda d: db.checksum_file(write_backup(d, "x.dump")).write_text("0" * 64 + "  x.dump\n"),
            "does not match its checksum",
        ),
    ],
)
def test_unusable_files_are_refused_before_anything_runs(backups, make, message):
    make(backups)
    with pytest.raises(Exit, match=message) as refused:
        db.resolve_backup(DEV, "x.dump")
    assert refused.value.code == 2


def test_no_backups_at_all_says_how_to_take_one(backups):
    with pytest.raises(Exit, match=r"no dev backups .* ./inv db.backup --env dev"):
        db.resolve_backup(DEV, "latest")


def test_prune_keeps_the_newest_and_their_sidecars_only(backups):
    names = [f"desideliver-dev-2026110{i}T000000Z.dump" for i in range(1, 5)]
    for name in names:
        db.metadata_file(write_backup(backups, name)).write_text("{}")
    safety = write_backup(backups, "desideliver-dev-20261101T000000Z-pre-restore.dump")
    db.prune("dev", keep=2)
    assert [p.name for p in db.regular_backups("dev")] == names[2:]
    assert not db.checksum_file(backups / names[0]).exists()
    assert not db.metadata_file(backups / names[0]).exists()
    assert safety.exists()  # safety backups are not subject to retention


def test_room_check_refuses_when_the_disk_is_smaller_than_the_database(backups, monkeypatch):
    monkeypatch.setattr(db, "query", lambda s, sql, database="": "5000000000")
    monkeypatch.setattr(db.shutil, "disk_usage", lambda path: SimpleNamespace(free=1_000_000_000))
    with pytest.raises(Exit, match="has 1000 MB free but the database is 5000 MB"):
        db.check_room(DEV, backups)


def test_a_dump_from_a_newer_postgres_is_refused(backups, monkeypatch):
    dump = write_backup(backups, "x.dump")
    listing = SimpleNamespace(returncode=0, stderr="", stdout=";     Dumped from database version: 18.1\n")
    monkeypatch.setattr(db.subprocess, "run", lambda *a, **k: listing)
    monkeypatch.setattr(db, "query", lambda s, sql, database="": "170011")
    with pytest.raises(Exit, match="made by PostgreSQL 18, newer than this server \\(17\\)"):
        db.check_versions(DEV, dump)


def test_restore_plan_restores_aside_before_stopping_anything_and_swaps_atomically(backups):
    swap = db.Swap.at("desideliver", NOW)
    assert (swap.scratch, swap.previous) == (
        "desideliver_restore_20261122010203",
        "desideliver_before_restore_20261122010203",
    )
    names = [step.name for step in db.plan_restore(DEV, backups / "x.dump", swap, backups / "s.dump", {})]
    order = {name: i for i, name in enumerate(names)}
    assert order["check the file is a complete PostgreSQL dump"] == 0
    assert order["restore into the scratch database"] < order["stop the app services"]
    assert order["stop the app services"] < order["swap the restored database in"]
    assert order["swap the restored database in"] < order["apply migrations (the backup may be from an older schema)"]
    assert any(name.startswith("safety backup:") for name in names[: order["create a scratch database"]])
    swap_step = db.plan_restore(DEV, backups / "x.dump", swap, backups / "s.dump", {})[
        order["swap the restored database in"]
    ]
    assert " -1 -c " in swap_step.command  # both renames in one transaction


def test_identifiers_and_literals_are_quoted():
    assert db.ident('we"ird') == '"we""ird"'
    assert db.literal("it's") == "'it''s'"
