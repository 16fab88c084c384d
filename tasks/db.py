"""Database: migrations, psql, and backup / restore of the compose PostgreSQL."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from pathlib import Path

from invoke import Context, task
from invoke.exceptions import Exit

from . import _stack
from ._plan import DRY_RUN_HELP, Step, confirm, execute, say, shell

ENV_HELP = "Which stack: dev or prod (default: dev)."
# Run inside the db container, where the image's own variables name the role and database.
PG = 'pg_{tool} -U "$POSTGRES_USER" -d "$POSTGRES_DB" {args}'
APP_SERVICES = ("web", "worker", "beat")


def in_db(s: _stack.Stack, command: str) -> str:
    return s.compose("exec", "-T", "db", "sh", "-c", command)


def backup_name(s: _stack.Stack, now: datetime) -> str:
    return f"desideliver-{s.env}-{now:%Y%m%dT%H%M%SZ}.dump"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checksum_file(dump: Path) -> Path:
    return dump.with_name(dump.name + ".sha256")


def plan_backup(s: _stack.Stack, target: Path) -> list[Step]:
    partial = target.with_name(target.name + ".partial")
    dump = in_db(s, PG.format(tool="dump", args="--format=custom --no-owner"))
    # Written under a .partial name; a failed dump removes it, so nothing that
    # looks like a finished backup is ever left behind.
    write = f"{dump} > {shell(partial)} || {{ status=$?; rm -f {shell(partial)}; exit $status; }}"
    # A full read catches truncation, which `pg_restore --list` alone does not.
    verify = f"{s.compose('exec', '-T', 'db', 'pg_restore', '-f', '/dev/null')} < {shell(partial)}"

    def seal() -> None:
        checksum_file(target).write_text(f"{sha256(partial)}  {target.name}\n")
        partial.replace(target)
        say(f"✓ backup {target} ({target.stat().st_size / 1e6:.1f} MB)")

    return [
        Step("create the backups directory", f"mkdir -p {shell(target.parent)}"),
        Step("dump the database (custom format)", write),
        Step("verify the dump by reading it in full", verify),
        Step("write the sha256 checksum and move the dump into place", f"seal {target.name}", action=seal),
    ]


def resolve_backup(s: _stack.Stack, name: str) -> Path:
    """The backup file `name` (a path, or `latest`), checked before anything is touched."""
    directory = _stack.backups_dir()
    if name == "latest":
        dumps = sorted(directory.glob(f"desideliver-{s.env}-*.dump"))
        if not dumps:
            raise Exit(f"✗ no {s.env} backups in {directory}; take one with ./inv db.backup --env {s.env}.", code=2)
        return dumps[-1]
    path = Path(name)
    path = path if path.is_absolute() or path.exists() else directory / name
    if not path.is_file():
        raise Exit(
            f"✗ backup file {name} does not exist (looked in . and {directory}); list them with ./inv db.backups.",
            code=2,
        )
    if path.stat().st_size == 0:
        raise Exit(
            f"✗ backup file {path} is empty; it cannot be restored. Pick another one (./inv db.backups).", code=2
        )
    checksum = checksum_file(path)
    if checksum.exists() and checksum.read_text().split()[0] != sha256(path):
        raise Exit(
            f"✗ backup file {path} does not match its checksum {checksum.name}: it was changed or "
            "damaged after it was written. Restore another one.",
            code=2,
        )
    return path


def plan_restore(s: _stack.Stack, dump: Path) -> list[Step]:
    restore = PG.format(tool="restore", args="--clean --if-exists --no-owner --exit-on-error --single-transaction")
    return [
        Step(
            "check the file is a complete PostgreSQL dump",
            f"{s.compose('exec', '-T', 'db', 'pg_restore', '-f', '/dev/null')} < {shell(dump)}",
        ),
        Step("stop the app services", s.compose("stop", *APP_SERVICES)),
        # One transaction: a restore that fails part-way leaves the database as it was.
        Step("restore (all or nothing)", f"{in_db(s, restore)} < {shell(dump)}"),
        Step(
            "start the app services and wait until healthy",
            s.compose("up", "--detach", "--wait", "--wait-timeout", "180", *APP_SERVICES),
        ),
    ]


@task(help={"env": ENV_HELP, "dry_run": DRY_RUN_HELP})
def migrate(c: Context, env: str = "dev", dry_run: bool = False) -> None:
    """Apply Django migrations (dev: in the web container or natively; prod: a one-off migrate container)."""
    s = _stack.stack(env)
    if env == "prod":
        execute(c, [Step("migrate", s.compose("run", "--rm", "-T", "migrate"))], dry_run)
        return
    from . import dev

    dev.run_manage(c, ["migrate", "--noinput"], dry_run, interactive=False)


@task(help={"app": "Only this Django app (default: all apps).", "dry_run": DRY_RUN_HELP})
def makemigrations(c: Context, app: str = "", dry_run: bool = False) -> None:
    """Create migrations for model changes (dev; files are owned by you)."""
    from . import dev

    dev.run_manage(c, ["makemigrations", *([app] if app else [])], dry_run, interactive=False)


@task(help={"env": ENV_HELP, "dry_run": DRY_RUN_HELP})
def psql(c: Context, env: str = "dev", dry_run: bool = False) -> None:
    """Open psql on the stack's database."""
    s = _stack.stack(env)
    command = s.compose("exec", "db", "sh", "-c", 'psql -U "$POSTGRES_USER" -d "$POSTGRES_DB"')
    execute(c, [Step("psql", command, interactive=True)], dry_run)


@task(help={"env": ENV_HELP, "dry_run": DRY_RUN_HELP})
def backup(c: Context, env: str = "dev", dry_run: bool = False) -> None:
    """Back up the database to backups/desideliver-<env>-<UTC time>.dump, verified, with a sha256 file."""
    s = _stack.stack(env)
    target = _stack.backups_dir() / backup_name(s, datetime.now(UTC))
    started = time.monotonic()
    execute(c, plan_backup(s, target), dry_run)
    if not dry_run:
        say(f"done in {time.monotonic() - started:.1f}s")


@task(
    help={
        "file": "Backup to restore: a path, a name in the backups directory, or 'latest' (required).",
        "env": ENV_HELP,
        "yes": "Do not ask before replacing the database (default: off; required without a terminal).",
        "dry_run": DRY_RUN_HELP,
    }
)
def restore(c: Context, file: str, env: str = "dev", yes: bool = False, dry_run: bool = False) -> None:
    """Replace the stack's database with a backup: inv db.restore FILE|latest (checked first; all or nothing)."""
    s = _stack.stack(env)
    dump = resolve_backup(s, file)
    if not dry_run:
        database = _stack.setting("POSTGRES_DB", "desideliver")
        confirm(f"This replaces database '{database}' of the {env} stack ({s.project}) with {dump.name}.", yes)
    execute(c, plan_restore(s, dump), dry_run)
    if not dry_run:
        say(f"✓ restored {dump.name} into the {env} database")


@task(help={"env": ENV_HELP})
def backups(c: Context, env: str = "dev") -> None:
    """List backups with size, age and whether the checksum still matches."""
    directory = _stack.backups_dir()
    dumps = sorted(directory.glob(f"desideliver-{env}-*.dump"))
    if not dumps:
        say(f"No {env} backups in {directory}.")
        return
    now = time.time()
    say(f"{'backup':<44} {'size':>10} {'age':>10}  checksum")
    for dump in dumps:
        checksum = checksum_file(dump)
        state = (
            ("ok" if checksum.read_text().split()[0] == sha256(dump) else "MISMATCH")
            if checksum.exists()
            else "missing"
        )
        age_hours = (now - dump.stat().st_mtime) / 3600
        say(f"{dump.name:<44} {dump.stat().st_size / 1e6:>8.1f}MB {age_hours:>9.1f}h  {state}")
