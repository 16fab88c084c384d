"""A restore's plans: the checks, the scratch database restored aside, the swap, and the way back.

db.restore (compose) and swarm.restore (swarm/data_node.py) build their restores from these.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Set
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from invoke.exceptions import Exit

from .. import journal
from ..run import Step, execute, output, run, say, shell, side_by_side
from ..stack import APP_SERVICES, Stack
from .database import (
    PSQL,
    backup_step,
    check_versions,
    ident,
    in_db,
    literal,
    on_postgres,
    ready_step,
    versions_command,
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

    def kept_before(self) -> str:
        """The FROM clause of the databases earlier restores kept, which this restore drops."""
        kept = literal(f"{self.live}_before_restore_")
        return f"FROM pg_catalog.pg_database WHERE pg_catalog.starts_with(datname, {kept})"

    def renames(self, away: str, into: str) -> str:
        """SQL that moves `live` to `away` and `into` to `live`, cutting off connections first."""
        return (
            "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity "  # noqa: S608
            f"WHERE datname = {literal(self.live)} AND pid <> pg_catalog.pg_backend_pid(); "
            f"ALTER DATABASE {ident(self.live)} RENAME TO {ident(away)}; "
            f"ALTER DATABASE {ident(into)} RENAME TO {ident(self.live)};"
        )


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


# The scratch database is a second copy of the live one beside it until the swap; the margin is for what
# the restore writes on the way (WAL, index builds). Percent: the shell's arithmetic is integer.
ROOM_PERCENT = 120
NO_ROOM = 3  # the exit code of ROOM_SCRIPT's refusal (any other failure is the measuring's)
ROOM_SCRIPT = f"""set -euo pipefail
sizes=$({PSQL} -tA -d "$POSTGRES_DB" -c "$1")
IFS='|' read -r size kept <<<"$sizes"
kept=${{kept:-0}}
free=$(df -P -B1 "$PGDATA" | awk 'NR == 2 {{print $4}}')
if ! [[ $size =~ ^[0-9]+$ && $kept =~ ^[0-9]+$ && $free =~ ^[0-9]+$ ]]; then
    echo "could not read the sizes: database '$size', kept '$kept', free '$free'" >&2
    exit 1
fi
need=$((size * {ROOM_PERCENT} / 100))
figures="$((free / 1000000)) MB free on the database's volume, plus $((kept / 1000000)) MB that earlier restores kept"
if [ "$((free + kept))" -lt "$need" ]; then
    echo "not enough room to restore: $figures, and the scratch copy needs $((need / 1000000)) MB," \
        "{ROOM_PERCENT}% of the live database's $((size / 1000000)) MB. Free space on that volume or grow it," \
        "then retry." >&2
    exit {NO_ROOM}
fi
echo "room: $figures; the scratch copy needs $((need / 1000000)) MB"
"""


def room_step(s: Stack, swap: Swap) -> Step:
    """Refuse, before anything is created, when the database's volume cannot hold the scratch copy.

    Counts the databases earlier restores kept as room: this restore drops them (drop_older_step).
    """
    sizes = (
        "SELECT pg_catalog.pg_database_size(pg_catalog.current_database()), "
        f"(SELECT pg_catalog.sum(pg_catalog.pg_database_size(datname)) {swap.kept_before()})"
    )
    command = s.exec("db", "bash", "-c", ROOM_SCRIPT, "room", sizes)

    def action() -> None:
        result = run(command, step="measure the room", capture=True, check=False)
        if result.returncode == NO_ROOM:
            raise Exit(f"✗ {result.stderr.strip()}", code=1)
        if result.returncode != 0:
            raise Exit(f"✗ could not measure the room for the restore: {result.stderr.strip()[-300:]}", code=1)
        say(f"  {result.stdout.strip()}")

    return Step("check the database's volume has room for the scratch copy", command, action=action)


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
    return [room_step(s, swap), *full_read, *at_once, *([migrate_scratch] if migrate else [])]


def resume_steps(s: Stack, paused: list[str]) -> list[Step]:
    if not paused:
        return []
    return [Step("resume the app services", s.compose("unpause", *paused)), journal.forget_step(s, "paused")]


SWAP_STEP = "swap the restored database in"


def plan_switch(s: Stack, swap: Swap, running: list[str]) -> list[Step]:
    """Pause the app (no new connections), swap the restored database in (one transaction), resume it.

    The pause is noted first: a run killed while the app is paused leaves the note, and the next run resumes it.
    """
    pause = [
        journal.note_step(s, "db.restore", paused=running),
        Step("pause the app services", s.compose("pause", *running)),
    ]
    return [
        *(pause if running else []),
        Step(SWAP_STEP, on_postgres(s, swap.renames(swap.previous, swap.scratch), True)),
        *resume_steps(s, running),
    ]


def plan_recover(s: Stack, swap: Swap, paused: list[str]) -> list[Step]:
    """After a failure before the swap took effect: drop the scratch database and resume what was paused."""
    drop = f"DROP DATABASE IF EXISTS {ident(swap.scratch)} WITH (FORCE)"
    return [*resume_steps(s, paused), Step("drop the scratch database", on_postgres(s, drop))]


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
    which retention keeps for BACKUP_KEEP_DAILY days at least (backup-prune.sh).
    A failure only warns: the restore goes on (./inv db.psql, then \\l, lists
    what is left).
    """
    older = swap.kept_before()
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


class RestorePlan(Protocol):
    """What switch_over needs of a restore (tasks/db.py's Restore)."""

    s: Stack
    dump: Path
    swap: Swap
    running: list[str]

    def switch(self) -> list[Step]: ...


def switch_over(plan: RestorePlan, safety: Callable[[], str]) -> float:
    """Swap the restored database in while the app is paused; gate on readiness, undoing the swap if not ready.

    Returns how long the app was paused.
    """
    s, dump, swap = plan.s, plan.dump, plan.swap
    steps = plan.switch()
    swapped = next(n for n, step in enumerate(steps, 1) if step.name == SWAP_STEP)
    paused = time.monotonic()
    try:
        execute(steps[:swapped])
    except Exit:
        say("✗ the swap did not happen (both renames are one transaction); resuming the app on the live database.")
        execute(plan_recover(s, swap, plan.running))
        raise
    try:
        execute(steps[swapped:])
    except Exit as failure:
        raise Exit(
            f"✗ {dump.name} is live in '{swap.live}' (the previous database is kept as '{swap.previous}'), but "
            f"resuming the app failed: {failure.message}\n  next: ./inv {s.env}.ps shows the services and resumes "
            "any left paused; then check ./inv db.migrate and readiness.",
            code=failure.code or 1,
        ) from None
    unavailable = time.monotonic() - paused
    try:
        execute([ready_step(s)])
    except Exit as failure:
        say(f"✗ the app is not ready on the restored database; putting '{swap.previous}' back live.")
        execute(plan_swap_back(s, swap))
        raise Exit(
            f"✗ restore of {dump.name} failed after the swap and was undone: the previous database is live "
            f"again and the app runs on it. The restored copy is kept as '{swap.failed}'.\n"
            f"  failure: {failure.message}\n  safety backup: {safety()}",
            code=failure.code or 1,
        ) from None
    return unavailable
