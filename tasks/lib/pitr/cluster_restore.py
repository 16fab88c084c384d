"""db.restore --to: the whole cluster restored beside the live one, replayed to a point, then switched in.

pitr-restore.sh (in the `pitr-restore` container) restores and replays the
cluster into its own directory of the database's volume and checks it; the
switch pauses the app, stops the database and renames two directories; the
live server then replays to the same point and ends recovery itself, so the
new timeline is archived. A failure before the switch leaves the live cluster
serving; one after it puts the previous cluster back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from invoke.exceptions import Exit

from .. import journal
from ..db.database import PSQL, in_db, query, ready_step
from ..run import Step, execute, run, say, shell
from ..stack import APP_SERVICES, Stack
from .repository import Target, pgbackrest

VOLUME = "/var/lib/postgresql/data"
NOT_ARCHIVED = 3  # pitr-restore.sh: the archive ends before the target
NO_ROOM = 4  # pitr-restore.sh: the volume cannot hold the restored cluster
DAMAGED = 5  # pitr-restore.sh: the backup set it read is damaged (it names an earlier one that verifies)
# Stopped for the switch and started after it: what reads or writes the database besides the app.
DATA_SERVICES = ("pitr", "backup")


@dataclass(frozen=True)
class ClusterRestore:
    """One db.restore --to: its names, and what ran when it started."""

    s: Stack
    target: Target
    at: datetime
    up: frozenset[str]
    backup: str = ""  # a backup set's label; empty: pgBackRest's choice, the newest that reaches the target

    @property
    def scratch(self) -> str:
        return f"restore-{self.at:%Y%m%d%H%M%S}"

    @property
    def previous(self) -> str:
        return f"previous-{self.at:%Y%m%d%H%M%S}"

    @property
    def failed(self) -> str:
        return f"failed-{self.at:%Y%m%d%H%M%S}"

    @property
    def running(self) -> list[str]:
        return [name for name in APP_SERVICES if name in self.up]

    def in_volume(self, name: str, script: str) -> Step:
        """`script` in the database's volume, in a one-off pitr-restore container (the db stopped or not)."""
        command = self.s.compose(
            "run", "--rm", "--no-deps", "-T", "--entrypoint", "bash", "pitr-restore", "-euo", "pipefail", "-c",
            f"cd {VOLUME} && {script}",
        )  # fmt: skip
        return Step(name, command)

    def prepare(self) -> list[Step]:
        """Archive what the live server has, then restore and replay beside it. Nothing live changes."""
        # A commit now: replay to a time stops at the first commit after it, so the archive must hold one.
        commit = in_db(self.s, f"{PSQL} -q -d postgres -c 'SELECT pg_catalog.txid_current()'")
        archive = Step(
            "archive the live server's WAL up to now (a commit, then pgBackRest check: switch, wait for the archive)",
            f"{commit} && {pgbackrest(self.s, self.up, 'check')}",
        )
        kind, value = self.target.kind, self.target.value
        chosen = ["-e", f"PITR_BACKUP={self.backup}"] if self.backup else []
        restore = self.s.compose(
            "run", "--rm", "--no-deps", "-T", *chosen, "pitr-restore", "pitr-restore.sh", self.scratch, kind
        )  # fmt: skip
        # A volume the engine just made (the old one was lost) is root's, and the engine gives it the image's
        # owner again at each mount while it is empty: it gets its owner and, at once, the scratch directory.
        own = self.s.compose(
            "run", "--rm", "--no-deps", "-T", "--entrypoint", "sh", "db", "-c",
            f"chown postgres:postgres {VOLUME} && chmod 0700 {VOLUME} && "
            f"install -d -o postgres -g postgres -m 0700 {VOLUME}/{self.scratch}",
        )  # fmt: skip
        return [
            *([archive] if "db" in self.up else []),
            Step("make the database's volume, and the scratch directory in it, the postgres user's", own),
            Step(
                f"restore the cluster beside the live one{f' from backup {self.backup}' if self.backup else ''} "
                f"and replay it to {self.target} ({self.scratch})",
                f"{restore} {shell(value)}" if value else restore,
                action=lambda: self.restore_aside(f"{restore} {shell(value)}" if value else restore),
            ),
        ]

    def restore_aside(self, command: str) -> None:
        result = run(command, step="restore beside the live cluster", check=False, timeout=3600)
        if result.returncode == NOT_ARCHIVED:
            what = (
                "no restore point of that name (each prod.deploy since point-in-time recovery was set up marks one)"
                if self.target.kind == "name"
                else "no commit after that time (above: its newest); use an earlier time, or latest"
            )
            raise Exit(f"✗ the archive ends before {self.target}: it holds {what}. The live cluster is unchanged.", 1)
        if result.returncode == DAMAGED:
            raise Exit(
                "✗ the backup set the restore read is damaged: above, its damaged files and the earlier backup to "
                "restore from (add --backup LABEL). The live cluster is unchanged.",
                1,
            )
        if result.returncode == NO_ROOM:
            raise Exit("✗ not enough room on the database's volume (see above); the live cluster is unchanged.", 1)
        if result.returncode != 0:
            raise Exit(f"✗ restoring beside the live cluster failed (exit {result.returncode}; see above).", 1)

    def switch(self) -> list[Step]:
        """Pause the app, stop the database, rename the clusters, start it (it ends recovery itself), resume."""
        s, running = self.s, self.running
        stopped = [name for name in ("db", *DATA_SERVICES) if name in self.up]
        rename = f"if [ -d current ]; then mv -T current {self.previous}; fi && mv -T {self.scratch} current"
        pause = [
            journal.note_step(s, "db.restore --to", paused=running),
            Step("pause the app", s.compose("pause", *running)),
        ]
        return [
            *(pause if running else []),
            *([Step("stop the database and what reads it", s.compose("stop", *stopped))] if stopped else []),
            self.in_volume(f"switch clusters: current -> {self.previous}, {self.scratch} -> current", rename),
            *self.start(),
            *self.resume(),
        ]

    def start(self) -> list[Step]:
        s = self.s
        return [
            Step(
                "start the database on the restored cluster",
                s.compose("up", "--detach", "--wait", "--no-deps", "db"),
                diagnose=lambda: database_log(s),
            ),
            Step(
                "wait until it has replayed to the target and ended recovery (a new timeline, archived)",
                "SELECT pg_is_in_recovery()  # repeated until false",
                action=lambda: wait_promoted(s),
            ),
        ]

    def resume(self) -> list[Step]:
        s, running = self.s, self.running
        # Started even when they were not running (a lost volume takes pitr's mount with it): archiving
        # and backups resume on the restored cluster.
        return [
            Step("apply migrations (the restored schema may be older)", s.compose("run", "--rm", "-T", "migrate")),
            Step("start the backup services", s.compose("up", "--detach", "--no-deps", *DATA_SERVICES)),
            *(
                [Step("resume the app", s.compose("unpause", *running)), journal.forget_step(s, "paused")]
                if running
                else []
            ),
        ]

    def switch_back(self) -> list[Step]:
        s = self.s
        # Only once the switch renamed anything: a failure before it left the live cluster in place.
        back = f"if [ -d {self.previous} ]; then mv -T current {self.failed}; mv -T {self.previous} current; fi"
        return [
            Step("stop the database", s.compose("stop", "db")),
            self.in_volume(
                f"put the previous cluster back: current -> {self.failed}, {self.previous} -> current", back
            ),
            Step(
                "start the database",
                s.compose("up", "--detach", "--wait", "--no-deps", "db"),
                diagnose=lambda: database_log(s),
            ),
            *self.resume(),
        ]

    def drop_older(self) -> Step:
        """After success: clusters earlier restores kept, and failed ones, go (this one's previous stays)."""
        keep = shell(self.previous)
        return self.in_volume(
            "remove clusters earlier restores kept",
            f'for d in previous-* failed-*; do [ -d "$d" ] && [ "$d" != {keep} ] && rm -rf -- "$d"; done; true',
        )


def database_log(s: Stack) -> str:
    """The database's last log lines, for a start that failed (compose only says "unhealthy")."""
    logs = run(s.compose("logs", "--no-color", "--tail", "25", "db"), step="read db's log", capture=True, check=False)
    lines = [line for line in logs.stdout.splitlines() if "archive-get" not in line]
    return "\n  the database's last lines:\n    " + "\n    ".join(lines[-15:])


def wait_promoted(s: Stack, timeout: float = 600) -> None:
    probe = in_db(s, f"{PSQL} -tA -d postgres -c 'SELECT pg_catalog.pg_is_in_recovery()'")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = run(probe, step="is the database in recovery", capture=True, check=False, timeout=30)
        if result.returncode == 0 and result.stdout.strip() == "f":
            return
        time.sleep(0.5)
    raise Exit(f"✗ the restored cluster did not end recovery within {timeout:.0f}s; see ./inv prod.logs -s db", 1)


def archive_branch(s: Stack, timeout: float = 60) -> None:
    """Archive the new timeline's first segment now, not PITR_ARCHIVE_TIMEOUT later.

    Until it is archived, a restore from the repository (the volume lost meanwhile) would read the old
    timeline's copy of that segment, past the point the new one branched from, and stop there.
    """
    switched = query(s, "SELECT pg_catalog.pg_walfile_name(pg_catalog.pg_switch_wal())", "postgres")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if query(s, "SELECT last_archived_wal FROM pg_catalog.pg_stat_archiver", "postgres") >= switched:
            return
        time.sleep(0.5)
    say(f"  ! {switched} is not archived yet: ./inv db.backups --env prod shows whether archiving works")


def restore(plan: ClusterRestore) -> float:
    """Run the restore: aside, switched, checked; undone past the switch on failure. Returns the app's pause."""
    execute(plan.prepare())
    paused = time.monotonic()
    try:
        execute(plan.switch())
        unavailable = time.monotonic() - paused
        if "web" in plan.up:
            execute([ready_step(plan.s)])
        else:
            say(f"  the app was not running: start it with ./inv {plan.s.env}.up")
    except Exit as failure:
        say(f"✗ the restored cluster did not come up ready ({failure.message}); putting the previous one back.")
        execute(plan.switch_back())
        raise Exit(
            f"✗ the restore to {plan.target} was undone: the previous cluster is live again. The restored one is "
            f"kept as {plan.failed} in the database's volume.",
            code=failure.code or 1,
        ) from None
    branch = Step("archive the new timeline's first segment", action=lambda: archive_branch(plan.s))
    execute([branch, plan.drop_older()])
    return unavailable
