"""A stack's PostgreSQL: queries, readiness and the backup step (db.*, prod.deploy and restores.py use them)."""

from __future__ import annotations

import re
import time
from collections.abc import Set
from pathlib import Path

from invoke.exceptions import Exit

from ..run import Step, output, run, shell
from ..stack import Stack
from . import backups

# The superuser's psql in the db container (the image's variables name the role and database). It looks
# names up in pg_catalog only, whatever search_path the database or a role sets (PGOPTIONS outranks
# both): no name in its SQL is an object the app made in its schema. Its functions are qualified too.
PSQL = 'PGOPTIONS="-c search_path=pg_catalog" psql -X -v ON_ERROR_STOP=1 -U "$POSTGRES_USER"'
READY_SECONDS = 120


def app_user(s: Stack) -> str:
    """The role the app connects as: prod has its own (APP_DB_USER); dev uses the superuser."""
    if s.env == "prod":
        return s.setting("APP_DB_USER", "desideliver_app")
    return s.setting("POSTGRES_USER", "desideliver")


def in_db(s: Stack, command: str) -> str:
    return s.exec("db", "sh", "-c", command)


def query(s: Stack, sql: str, database: str = "") -> str:
    """One psql query in the db container; its unaligned output, or one line naming the query."""
    target = shell(database) if database else '"$POSTGRES_DB"'
    return output(in_db(s, f"{PSQL} -tA -d {target} -c {shell(sql)}"), step=f"query ({sql[:60]})")


def migration_state(s: Stack) -> dict[str, str]:
    """The newest applied migration per Django app ({} for a database Django never touched).

    As the app's role, on a connection of its own (trusted on the db container's socket) like backup-once.sh:
    whatever the app made of django_migrations (a view over its function) runs with its powers, not a superuser's.
    """
    sql = "SELECT app, max(name) FROM django_migrations GROUP BY app ORDER BY app"
    result = run(
        in_db(s, f'psql -X -U {shell(app_user(s))} -tA -d "$POSTGRES_DB" -c {shell(sql)}'),
        step="query the migrations",
        capture=True,
        check=False,
    )
    if result.returncode != 0:
        if 'relation "django_migrations" does not exist' in result.stderr:
            return {}
        raise Exit(f"✗ could not read the applied migrations: {result.stderr.strip()[-300:]}", code=1)
    return dict(line.split("|", 1) for line in result.stdout.splitlines() if line)


def backup_step(s: Stack, kind: str = "", up: Set[str] | None = None) -> Step:
    """One verified backup by the backup image (docker/backup/backup-once.sh), the only implementation.

    In the running backup service when there is one (prod), else in a one-off container of its image.
    `up`: the stack's running services, when the caller has just read them.
    """
    label = f"{kind} backup" if kind else "backup"
    once = ["backup-once.sh", *([kind] if kind else [])]
    running = s.running_services() if up is None else up
    where = ["exec", "-T", "backup"] if "backup" in running else ["run", "--rm", "--no-deps", "-T", "backup"]
    return Step(
        f"take a verified {label} (dump, read back, checksum, metadata)",
        s.compose(*where, *once),
        hint=f"see the line 'backup: FAILED: ...' above; ./inv db.backups --env {s.env} lists what exists",
    )


def versions_command(s: Stack) -> str:
    """One round trip: the dump's header (from standard input), then the server's version on the last line."""
    return in_db(s, f"pg_restore --list && {PSQL} -tA -d postgres -c 'SHOW server_version_num'")


def check_versions(s: Stack, dump: Path) -> None:
    """Refuse a dump made by a newer PostgreSQL major version than the server runs."""
    with dump.open("rb") as source:
        listing = run(versions_command(s), step="read the dump's header", capture=True, stdin=source, check=False)
    found = re.search(r"Dumped from database version: (\d+)", listing.stdout)
    if listing.returncode != 0 or not found:
        raise Exit(
            f"✗ {dump.name} is not a complete PostgreSQL custom-format dump (its header does not read): "
            f"{listing.stderr.strip()[-300:]}",
            code=2,
        )
    server = int(listing.stdout.split()[-1]) // 10000
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


def wait_ready(probe: str, timeout: float = READY_SECONDS) -> None:
    """Gate on readiness (database, cache, migrations), not liveness: repeat `probe` until it passes."""
    deadline, problem = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        result = run(probe, step="readiness probe", capture=True, check=False, timeout=30)
        if result.returncode == 0:
            return
        problem = (result.stderr or result.stdout).strip()[-300:]
        time.sleep(1)
    raise Exit(f"✗ the app did not become ready within {timeout:.0f}s: {problem}", code=1)


def ready_step(s: Stack) -> Step:
    probe = s.exec("web", "python", "-m", "healthcheck", "ready")
    return Step(
        "wait until the app is ready (database, cache, migrations)",
        f"{probe}  # repeated until it passes",
        action=lambda: wait_ready(probe),
    )


def on_postgres(s: Stack, sql: str, one_transaction: bool = False) -> str:
    return in_db(s, f"{PSQL} -d postgres {'-1 ' if one_transaction else ''}-c {shell(sql)}")


def describe(backup: backups.Backup | None) -> str:
    return str(backup.dump) if backup else "not taken"


def schema_note(s: Stack, before: dict[str, str]) -> str:
    """What a rollback leaves behind when migrations already ran: the old code on a newer schema."""
    try:
        after = migration_state(s)
    except Exit:
        return "  schema: could not be read after the failure; check it with ./inv db.psql --env prod"
    newer = [f"{app}.{name}" for app, name in sorted(after.items()) if before.get(app) != name]
    if not newer:
        return "  schema: unchanged (the failed deploy applied no migration)"
    return (
        f"  schema: NEWER than the code rolled back to ({', '.join(newer)} applied by the failed deploy); "
        "the old code runs on it. If it cannot, restore the pre-deploy backup: ./inv db.restore FILE --env prod"
    )
