"""Database: migrations, psql, and backup / restore of the compose PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
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


def backup_name(s: _stack.Stack, now: datetime, kind: str = "") -> str:
    """desideliver-<env>-<UTC time>.dump; safety backups carry a kind: ...-pre-restore.dump."""
    return f"desideliver-{s.env}-{now:%Y%m%dT%H%M%SZ}{'-' + kind if kind else ''}.dump"


def regular_backups(env: str) -> list[Path]:
    """Backups taken by db.backup, oldest first (safety backups excluded)."""
    pattern = re.compile(rf"desideliver-{re.escape(env)}-\d{{8}}T\d{{6}}Z\.dump")
    return sorted(p for p in _stack.backups_dir().glob("*.dump") if pattern.fullmatch(p.name))


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checksum_file(dump: Path) -> Path:
    return dump.with_name(dump.name + ".sha256")


def metadata_file(dump: Path) -> Path:
    return dump.with_name(dump.name + ".json")


def query(s: _stack.Stack, sql: str, database: str = "") -> str:
    """One psql query in the db container; its unaligned output, or raise Exit naming the query."""
    target = shell(database) if database else '"$POSTGRES_DB"'
    command = f'psql -X -tA -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d {target} -c {shell(sql)}'
    result = subprocess.run(
        shlex.split(in_db(s, command)),
        capture_output=True,
        text=True,
        env=_stack.compose_process_env(),
    )
    if result.returncode != 0:
        raise Exit(f"✗ query failed ({sql}): {result.stderr.strip() or result.stdout.strip()}", code=1)
    return result.stdout.strip()


def migration_state(s: _stack.Stack) -> dict[str, str]:
    """The newest applied migration per Django app ({} for a database Django never touched)."""
    if query(s, "SELECT to_regclass('django_migrations') IS NOT NULL") != "t":
        return {}
    rows = query(s, "SELECT app, max(name) FROM django_migrations GROUP BY app ORDER BY app")
    return dict(line.split("|", 1) for line in rows.splitlines() if line)


def check_room(s: _stack.Stack, directory: Path) -> None:
    """Refuse to start a backup the disk cannot hold (the database's size is the bound)."""
    size = int(query(s, "SELECT pg_database_size(current_database())"))
    directory.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(directory).free
    if free < size:
        raise Exit(
            f"✗ {directory} has {free / 1e6:.0f} MB free but the database is {size / 1e6:.0f} MB: "
            "free some space (./inv db.backup --keep N prunes old backups) and retry.",
            code=1,
        )


def dump_with_progress(command: str, partial: Path) -> None:
    """Run the dump into `partial`, printing its growing size; remove it on any failure."""
    started = time.monotonic()
    try:
        with partial.open("wb") as out:
            process = subprocess.Popen(shlex.split(command), stdout=out, env=_stack.compose_process_env())
            while process.poll() is None:
                time.sleep(0.5)
                if time.monotonic() - started > 5:  # quiet for small databases
                    print(f"\r  {partial.stat().st_size / 1e6:8.1f} MB written", end="", flush=True)
        if time.monotonic() - started > 5:
            print()
        if process.returncode != 0:
            raise Exit(f"✗ pg_dump failed with exit code {process.returncode}; no backup was written.", code=1)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def plan_backup(s: _stack.Stack, target: Path, keep: int = 0) -> list[Step]:
    partial = target.with_name(target.name + ".partial")
    dump = in_db(s, PG.format(tool="dump", args="--format=custom --no-owner"))
    # A full read catches truncation, which `pg_restore --list` alone does not.
    verify = f"{s.compose('exec', '-T', 'db', 'pg_restore', '-f', '/dev/null')} < {shell(partial)}"
    facts: dict = {}

    def record() -> None:
        facts.update(
            started=time.monotonic(),
            migrations=migration_state(s),
            server_version=query(s, "SHOW server_version"),
            database=query(s, "SELECT current_database()"),
        )

    def seal() -> None:
        digest = sha256(partial)
        metadata = {
            "file": target.name,
            "environment": s.env,
            "database": facts["database"],
            "server_version": facts["server_version"],
            "migrations": facts["migrations"],
            "size_bytes": partial.stat().st_size,
            "sha256": digest,
            "duration_seconds": round(time.monotonic() - facts["started"], 2),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        metadata_file(target).write_text(json.dumps(metadata, indent=2) + "\n")
        checksum_file(target).write_text(f"{digest}  {target.name}\n")
        # Last: only a dump that was read back in full gets its final name.
        partial.replace(target)
        say(f"✓ backup {target} ({metadata['size_bytes'] / 1e6:.1f} MB in {metadata['duration_seconds']:.1f}s)")

    steps = [
        Step(
            "check there is room for the dump",
            "compare the database size with free disk space",
            action=lambda: check_room(s, target.parent),
        ),
        Step("record server version and migration state", "SHOW server_version; django_migrations", action=record),
        # Written under a .partial name and removed on failure: nothing that
        # looks like a finished backup is ever left behind.
        Step(
            "dump the database (custom format)",
            f"{dump} > {shell(partial)}",
            action=lambda: dump_with_progress(dump, partial),
        ),
        Step("verify the dump by reading it in full", verify),
        Step("write metadata and checksum, then give the dump its final name", f"seal {target.name}", action=seal),
    ]
    if keep:
        steps.append(
            Step(f"keep the newest {keep} backups", f"prune old {s.env} backups", action=lambda: prune(s.env, keep))
        )
    return steps


def prune(env: str, keep: int) -> None:
    """Delete all but the newest `keep` regular backups (with their sidecar files)."""
    for old in regular_backups(env)[:-keep]:
        for path in (old, checksum_file(old), metadata_file(old)):
            path.unlink(missing_ok=True)
        say(f"  pruned {old.name}")


def resolve_backup(s: _stack.Stack, name: str) -> Path:
    """The backup file `name` (a path, or `latest`), checked before anything is touched."""
    directory = _stack.backups_dir()
    if name == "latest":
        dumps = regular_backups(s.env)
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


def check_versions(s: _stack.Stack, dump: Path) -> None:
    """Refuse a dump made by a newer PostgreSQL major version than the server runs."""
    with dump.open("rb") as source:
        listing = subprocess.run(
            shlex.split(s.compose("exec", "-T", "db", "pg_restore", "--list")),
            stdin=source,
            capture_output=True,
            text=True,
            env=_stack.compose_process_env(),
        )
    found = re.search(r"Dumped from database version: (\d+)", listing.stdout)
    if listing.returncode != 0 or not found:
        raise Exit(f"✗ {dump.name} is not a PostgreSQL custom-format dump: {listing.stderr.strip()}", code=2)
    server = int(query(s, "SHOW server_version_num")) // 10000
    if int(found.group(1)) > server:
        raise Exit(
            f"✗ {dump.name} was made by PostgreSQL {found.group(1)}, newer than this server "
            f"({server}); restore it on PostgreSQL {found.group(1)} or newer.",
            code=2,
        )


def ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A quoted SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


@dataclass
class Swap:
    """The database names one restore works with."""

    live: str
    scratch: str
    previous: str

    @classmethod
    def at(cls, live: str, now: datetime) -> Swap:
        stamp = f"{now:%Y%m%d%H%M%S}"
        return cls(live, f"{live}_restore_{stamp}", f"{live}_before_restore_{stamp}")


def plan_restore(s: _stack.Stack, dump: Path, swap: Swap, safety: Path, clock: dict) -> list[Step]:
    on_postgres = 'psql -X -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres'
    restore = f'pg_restore -U "$POSTGRES_USER" -d {shell(swap.scratch)} --no-owner --exit-on-error --single-transaction'
    switch = (
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = {literal(swap.live)} "  # noqa: S608
        f"AND pid <> pg_backend_pid(); ALTER DATABASE {ident(swap.live)} RENAME TO {ident(swap.previous)}; "
        f"ALTER DATABASE {ident(swap.scratch)} RENAME TO {ident(swap.live)};"
    )

    def app_down() -> None:
        clock["stopped"] = time.monotonic()

    def report() -> None:
        if "stopped" in clock:
            say(f"  the app was unavailable for {time.monotonic() - clock['stopped']:.1f}s")

    return [
        Step(
            "check the file is a complete PostgreSQL dump",
            f"{s.compose('exec', '-T', 'db', 'pg_restore', '-f', '/dev/null')} < {shell(dump)}",
        ),
        Step(
            "check the dump's PostgreSQL version",
            "pg_restore --list; SHOW server_version_num",
            action=lambda: check_versions(s, dump),
        ),
        *[Step(f"safety backup: {step.name}", step.command, action=step.action) for step in plan_backup(s, safety)],
        Step(
            "create a scratch database",
            in_db(s, f"{on_postgres} -c {shell(f'CREATE DATABASE {ident(swap.scratch)} TEMPLATE template0')}"),
        ),
        # Into the scratch database: a failure at any point leaves the live one untouched.
        Step("restore into the scratch database", f"{in_db(s, restore)} < {shell(dump)}"),
        Step("mark the start of the unavailability", "start the clock", action=app_down),
        Step("stop the app services", s.compose("stop", *APP_SERVICES)),
        # One transaction: both renames happen, or neither.
        Step("swap the restored database in", in_db(s, f"{on_postgres} -1 -c {shell(switch)}")),
        Step("apply migrations (the backup may be from an older schema)", s.compose("run", "--rm", "-T", "migrate")),
        Step(
            "start the app services and wait until healthy",
            s.compose("up", "--detach", "--wait", "--wait-timeout", "180", *APP_SERVICES),
            hint=_stack.start_hint(s),
        ),
        Step("report the unavailability", "stop the clock", action=report),
    ]


def plan_recover(s: _stack.Stack, swap: Swap) -> list[Step]:
    """After a failed restore: drop the scratch database (if still there) and start the app again."""
    drop = f"DROP DATABASE IF EXISTS {ident(swap.scratch)} WITH (FORCE)"
    return [
        Step(
            "drop the scratch database",
            in_db(s, f'psql -X -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres -c {shell(drop)}'),
        ),
        Step(
            "start the app services again",
            s.compose("up", "--detach", "--wait", "--wait-timeout", "180", *APP_SERVICES),
        ),
    ]


def drop_older_previous(s: _stack.Stack, swap: Swap) -> None:
    """Keep only the database this restore replaced; earlier ones were superseded by it."""
    prefix = literal(f"{swap.live}_before_restore_")
    sql = f"SELECT datname FROM pg_database WHERE starts_with(datname, {prefix})"  # noqa: S608 - quoted literal
    names = query(s, sql, database="postgres").split()
    for name in names:
        if name != swap.previous:
            query(s, f"DROP DATABASE {ident(name)} WITH (FORCE)", database="postgres")
            say(f"  dropped {name} (replaced by {swap.previous})")


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


@task(
    help={
        "env": ENV_HELP,
        "keep": "After a successful backup, keep only the newest N (default: BACKUP_KEEP from the env file, 0 = all).",
        "dry_run": DRY_RUN_HELP,
    }
)
def backup(c: Context, env: str = "dev", keep: int = -1, dry_run: bool = False) -> None:
    """Back up the database to backups/desideliver-<env>-<UTC time>.dump: verified, checksummed, with metadata."""
    s = _stack.stack(env)
    keep = keep if keep >= 0 else int(_stack.setting("BACKUP_KEEP", "0"))
    execute(c, plan_backup(s, _stack.backups_dir() / backup_name(s, datetime.now(UTC)), keep), dry_run)


@task(
    help={
        "file": "Backup to restore: a path, a name in the backups directory, or 'latest' (required).",
        "env": ENV_HELP,
        "yes": "Do not ask before replacing the database (default: off; required without a terminal).",
        "dry_run": DRY_RUN_HELP,
    }
)
def restore(c: Context, file: str, env: str = "dev", yes: bool = False, dry_run: bool = False) -> None:
    """Replace the database with a backup: inv db.restore FILE|latest (checked, safety-backed-up, swapped in)."""
    s = _stack.stack(env)
    dump = resolve_backup(s, file)
    now = datetime.now(UTC)
    swap = Swap.at(_stack.setting("POSTGRES_DB", "desideliver"), now)
    safety = _stack.backups_dir() / backup_name(s, now, "pre-restore")
    if not dry_run:
        confirm(
            f"This replaces database '{swap.live}' of the {env} stack ({s.project}) with {dump.name}; "
            f"the current one is kept as '{swap.previous}'.",
            yes,
        )
    clock: dict = {}
    try:
        execute(c, plan_restore(s, dump, swap, safety, clock), dry_run)
    except Exit:
        say(
            "✗ the restore did not complete; cleaning up. The live database is unchanged unless the report "
            f"above shows the swap step succeeded (then the previous one is '{swap.previous}'). "
            f"Safety backup: {safety if safety.exists() else 'not taken'}."
        )
        execute(c, plan_recover(s, swap))
        raise
    if not dry_run:
        drop_older_previous(s, swap)
        say(
            f"✓ restored {dump.name} into '{swap.live}' ({env}); the replaced database is kept as "
            f"'{swap.previous}' until the next restore, and was backed up to {safety.name}."
        )


@task(help={"env": ENV_HELP})
def backups(c: Context, env: str = "dev") -> None:
    """List backups (and safety backups) with size, age and whether the checksum still matches."""
    directory = _stack.backups_dir()
    dumps = sorted(directory.glob(f"desideliver-{env}-*.dump"))
    if not dumps:
        say(f"No {env} backups in {directory}.")
        return
    now = time.time()
    say(f"{'backup':<52} {'size':>10} {'age':>10}  checksum")
    for dump in dumps:
        checksum = checksum_file(dump)
        if not checksum.exists():
            state = "missing"
        else:
            state = "ok" if checksum.read_text().split()[0] == sha256(dump) else "MISMATCH"
        age_hours = (now - dump.stat().st_mtime) / 3600
        say(f"{dump.name:<52} {dump.stat().st_size / 1e6:>8.1f}MB {age_hours:>9.1f}h  {state}")


# Rebuilt by migrate on every database: neither dumped nor compared.
REBUILT = ("contenttypes.ContentType", "auth.Permission")


def counts_in_container(s: _stack.Stack) -> dict[str, int]:
    command = s.compose("exec", "-T", "web", "python", "manage.py", "model_counts")
    result = subprocess.run(shlex.split(command), capture_output=True, text=True, env=_stack.compose_process_env())
    if result.returncode != 0:
        raise Exit(f"✗ could not count rows in the {s.env} stack: {result.stderr.strip()[-500:]}", code=1)
    return {k: v for k, v in json.loads(result.stdout.strip().splitlines()[-1]).items() if k not in REBUILT}


def counts_natively(source_env: dict[str, str]) -> dict[str, int]:
    result = subprocess.run(
        shlex.split(_stack.manage("model_counts")),
        capture_output=True,
        text=True,
        cwd=_stack.ROOT,
        env={**os.environ, **source_env},
    )
    if result.returncode != 0:
        raise Exit(f"✗ could not count rows in the source database: {result.stderr.strip()[-500:]}", code=1)
    return {k: v for k, v in json.loads(result.stdout.strip().splitlines()[-1]).items() if k not in REBUILT}


def compare_counts(source: dict[str, int], target: dict[str, int]) -> None:
    """Print per-model counts side by side; fail naming every model that differs."""
    say(f"  {'model':<28} {'SQLite':>8} {'PostgreSQL':>11}")
    for label in sorted(source):
        mark = "" if source[label] == target.get(label) else "   ✗ differs"
        say(f"  {label:<28} {source[label]:>8} {target.get(label, 0):>11}{mark}")
    differing = [label for label in source if source[label] != target.get(label)]
    if differing:
        raise Exit(f"✗ row counts differ for {', '.join(differing)}", code=1)
    say(f"✓ {sum(source.values())} rows in {len(source)} models, identical counts on both sides")


def plan_transfer(s: _stack.Stack, source: Path, snapshot: Path, replace: bool) -> list[Step]:
    source_env = {
        "DJANGO_SETTINGS_MODULE": _stack.SETTINGS["dev"],
        "DATABASE_URL": f"sqlite:///{source}",
        "REDIS_URL": "",
    }
    counted: dict = {}
    in_container = f"/app/{snapshot.relative_to(_stack.ROOT)}"
    return [
        Step(
            "dump the SQLite data",
            _stack.manage(
                "dumpdata",
                "--natural-foreign",
                "--natural-primary",
                *[a for m in REBUILT for a in ("--exclude", m)],
                "--output",
                str(snapshot),
            ),
            env=source_env,
        ),
        Step(
            "count rows per model in SQLite",
            "manage.py model_counts",
            action=lambda: counted.update(counts_natively(source_env)),
        ),
        Step(
            "load into PostgreSQL in one transaction, then reset sequences",
            s.compose(
                "exec",
                "-T",
                "web",
                "python",
                "manage.py",
                "load_snapshot",
                in_container,
                *(["--replace"] if replace else []),
            ),
        ),
        Step(
            "compare per-model row counts",
            "manage.py model_counts in the web container",
            action=lambda: compare_counts(counted, counts_in_container(s)),
        ),
        Step("remove the snapshot file (it holds password hashes)", f"rm -f {shell(snapshot)}"),
    ]


@task(
    help={
        "source": "SQLite database to move (default: var/db.sqlite3, the native stack's).",
        "yes": "Replace the target's data without asking when it holds any (default: off).",
        "dry_run": DRY_RUN_HELP,
    }
)
def transfer(c: Context, source: str = "var/db.sqlite3", yes: bool = False, dry_run: bool = False) -> None:
    """Move the native stack's SQLite data into the Docker dev stack's PostgreSQL (one transaction, counts compared)."""
    s = _stack.stack("dev")
    path = Path(source) if Path(source).is_absolute() else _stack.ROOT / source
    if not path.is_file():
        raise Exit(f"✗ no SQLite database at {path}; the native stack keeps its data in var/db.sqlite3.", code=2)
    if not dry_run and not _stack.is_running(s, "web"):
        raise Exit("✗ the Docker dev stack is not running; start it with ./inv dev.up --docker, then retry.", code=1)
    holding = {} if dry_run else {k: v for k, v in counts_in_container(s).items() if v}
    if holding:
        confirm(
            f"The dev stack's PostgreSQL ({s.project}) already holds data "
            f"({sum(holding.values())} rows, e.g. {', '.join(list(holding)[:3])}); it will be REPLACED "
            f"by the contents of {path.name}.",
            yes,
        )
    snapshot = _stack.ROOT / "var" / f"transfer-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    snapshot.parent.mkdir(exist_ok=True)
    execute(c, plan_transfer(s, path, snapshot, replace=bool(holding)), dry_run)
