"""A stack's PostgreSQL: queries, and the backup and restore plans (db.* and prod.deploy use them)."""

from __future__ import annotations

import re
import time
from collections.abc import Set
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from invoke.exceptions import Exit

from . import backups
from .run import Step, output, run, say, shell, side_by_side
from .stack import APP_SERVICES, Stack

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


@dataclass
class Swap:
    """The database names one restore works with."""

    live: str
    scratch: str
    previous: str
    failed: str

    @classmethod
    def at(cls, live: str, now: datetime) -> Swap:
        stamp = f"{now:%Y%m%d%H%M%S}"
        return cls(live, f"{live}_restore_{stamp}", f"{live}_before_restore_{stamp}", f"{live}_failed_restore_{stamp}")

    def renames(self, away: str, into: str) -> str:
        """SQL that moves `live` to `away` and `into` to `live`, cutting off connections first."""
        return (
            "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity "  # noqa: S608
            f"WHERE datname = {literal(self.live)} AND pid <> pg_catalog.pg_backend_pid(); "
            f"ALTER DATABASE {ident(self.live)} RENAME TO {ident(away)}; "
            f"ALTER DATABASE {ident(into)} RENAME TO {ident(self.live)};"
        )


def on_postgres(s: Stack, sql: str, one_transaction: bool = False) -> str:
    return in_db(s, f"{PSQL} -d postgres {'-1 ' if one_transaction else ''}-c {shell(sql)}")


def start_app(s: Stack) -> list[Step]:
    return [
        Step(
            "start the app services and wait until healthy",
            s.compose("up", "--detach", "--wait", "--wait-timeout", "180", *APP_SERVICES),
            hint=s.start_hint(),
        ),
        ready_step(s),
    ]


def version_step(s: Stack, dump: Path) -> Step:
    return Step(
        "check the dump's PostgreSQL version",
        f"{versions_command(s)} < {shell(dump)}",
        action=lambda: check_versions(s, dump),
    )


def scratch_step(s: Stack, dump: Path, swap: Swap, user: str) -> Step:
    """A new scratch database, `dump` restored into it as the app's role `user` (one exec); the live one is untouched.

    Owned as ensure-app-role.sh keeps the live one. pg_restore connects as `user`: a restore runs some of the
    dump's functions (a CHECK constraint's, per row), with a superuser's powers if it connected as one (--role
    is a SET ROLE, which any function may RESET).
    """
    create = f"CREATE DATABASE {ident(swap.scratch)} TEMPLATE template0"
    prepare = shell(
        "-c", create, "-c", f"\\connect {literal(swap.scratch)}", "-c", f"ALTER SCHEMA public OWNER TO {ident(user)}"
    )
    restore = f"pg_restore -U {shell(user)} -d {shell(swap.scratch)} --no-owner --exit-on-error --single-transaction"
    return Step(
        "create a scratch database, and have the app's role restore into it",
        f"{in_db(s, f'{PSQL} -q -d postgres {prepare} && {restore}')} < {shell(dump)}",
    )


def safety_backup_and_scratch(s: Stack, safety: Step, dump: Path, swap: Swap, user: str) -> list[Step]:
    """At once: the safety backup of the live database, the scratch database created and restored into,
    and the databases earlier restores kept dropped.

    They read and write different databases; the swap waits for all three, so
    a failed safety backup still stops the restore before anything live
    changes. The drop goes first, not after the swap: a DROP DATABASE is a
    checkpoint, cheap now and slow once the restore has written its data.
    """
    scratch, drop = scratch_step(s, dump, swap, user), drop_older_step(s, swap)
    return [side_by_side(f"{safety.name}, and at once {scratch.name}; {drop.name}", safety, scratch, drop)]


def plan_prepare_restore(
    s: Stack, dump: Path, swap: Swap, verified: bool, user: str, migrate: bool = True, up: Set[str] | None = None
) -> list[Step]:
    """Everything before the swap: checks, safety backup, restore and migrate aside. Nothing live changes."""
    # A dump whose checksum matched was read back in full when it was written.
    read_all = f"{s.exec('db', 'pg_restore', '-f', '/dev/null')} < {shell(dump)}"
    full_read = [] if verified else [Step("check the file is a complete PostgreSQL dump", read_all)]
    scratch_url = f"DATABASE_URL=postgres://{user}@db:5432/{swap.scratch}"
    # Migrated before the swap (the dump may predate the schema), so the app waits only for the renames.
    migrate_scratch = Step(
        "apply migrations to the restored database", s.compose("run", "--rm", "-T", "-e", scratch_url, "migrate")
    )
    at_once = safety_backup_and_scratch(s, backup_step(s, "pre-restore", up), dump, swap, user)
    return [*full_read, *at_once, *([migrate_scratch] if migrate else [])]


def plan_switch(s: Stack, swap: Swap, running: list[str]) -> list[Step]:
    """Pause the app (no new connections), swap the restored database in (one transaction), resume it."""
    return [
        *([Step("pause the app services", s.compose("pause", *running))] if running else []),
        Step("swap the restored database in", on_postgres(s, swap.renames(swap.previous, swap.scratch), True)),
        *([Step("resume the app services", s.compose("unpause", *running))] if running else []),
    ]


def plan_recover(s: Stack, swap: Swap, paused: list[str]) -> list[Step]:
    """After a failure before the swap took effect: drop the scratch database and resume what was paused."""
    drop = f"DROP DATABASE IF EXISTS {ident(swap.scratch)} WITH (FORCE)"
    resume = [Step("resume the app services", s.compose("unpause", *paused))] if paused else []
    return [*resume, Step("drop the scratch database", on_postgres(s, drop))]


def plan_swap_back(s: Stack, swap: Swap) -> list[Step]:
    """After a failure past the swap: put the previous database back live and start the app on it."""
    return [
        Step("stop the app services", s.compose("stop", *APP_SERVICES)),
        Step(
            "swap the previous database back in (the restored one is kept aside)",
            on_postgres(s, swap.renames(swap.failed, swap.previous), True),
        ),
        *start_app(s),
    ]


def drop_older_step(s: Stack, swap: Swap) -> Step:
    """Drop the databases earlier restores kept: this restore supersedes them ("kept until the next restore").

    Each one's data is in the safety backup of the restore that replaced it,
    which retention never prunes. A failure only warns: the restore goes on
    (./inv db.psql, then \\l, lists what is left).
    """
    kept = literal(f"{swap.live}_before_restore_")
    older = f"FROM pg_catalog.pg_database WHERE pg_catalog.starts_with(datname, {kept})"
    # One round trip: list them, then drop each (\gexec runs every row as a statement of its own).
    drop_each = f"SELECT pg_catalog.format('DROP DATABASE %I WITH (FORCE)', datname) {older} \\gexec"
    script = [f"SELECT datname {older};", drop_each]
    drop = in_db(s, f"printf '%s\\n' {shell(*script)} | {PSQL} -q -tA -d postgres")

    def action() -> None:
        try:
            dropped = output(drop, step="drop the databases earlier restores kept")
        except Exit as failed:
            say(f"  ! databases earlier restores kept were not dropped ({failed.message}); see ./inv db.psql: \\l")
            return
        for name in dropped.split():
            say(f"  dropped {name}, kept by an earlier restore (its pre-restore backup holds it)")

    return Step("drop the databases earlier restores kept", drop, action=action)


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
