"""Point-in-time recovery (prod): the pgBackRest repository, its window, restore targets and drills.

The server archives its own WAL and the `pitr` service takes the backups
(docker/postgres/pitr-loop.sh); this module reads what they made, for
db.backups and for db.restore --to (whose plan is cluster_restore.py).
"""

from __future__ import annotations

import json
from collections.abc import Set
from dataclasses import dataclass
from datetime import UTC, datetime

from invoke.exceptions import Exit

from .. import deploys, run
from ..db.database import PSQL, in_db
from ..run import Step, output, say, shell
from ..stack import Stack, setting

TARGET_HELP = (
    "Restore the whole cluster to a point instead of a dump (prod): 'latest' (the newest archived WAL), "
    "a time with its UTC offset ('2026-12-05 14:03:27+00'), or before-deploy:TAG (the point prod.deploy "
    "marks before migrating). (default: none: FILE names a dump)."
)
RESTORE_POINT = "before-deploy:"
DRILL_RECORD = "/var/lib/postgresql/drill/last.json"  # pitr-drill.sh's, in the pitr service


def offsite_network() -> dict[str, str]:
    """compose/prod's `offsite` network has a route out only while an off-host repository is set."""
    explicit = setting("prod", "PITR_OFFSITE_INTERNAL")
    return {"PITR_OFFSITE_INTERNAL": explicit or str(not setting("prod", "PITR_OFFSITE")).lower()}


# Every command gets it (as stack.compose_environment's variables), so no compose call sees another value.
run.BASE_ENV.append(offsite_network)


@dataclass(frozen=True)
class Target:
    kind: str  # latest | time | name (pgBackRest's recovery types)
    value: str = ""

    def __str__(self) -> str:
        return self.value or self.kind

    @classmethod
    def parse(cls, text: str) -> Target:
        """'latest', before-deploy:TAG, or a time with an offset; one line naming the forms otherwise."""
        text = text.strip()
        if text == "latest":
            return cls("latest")
        if text.startswith(RESTORE_POINT) and len(text) > len(RESTORE_POINT):
            return cls("name", text)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            why = "has no UTC offset" if moment else "is not a time"
            raise Exit(
                f"✗ --to {text!r} {why}; use latest, before-deploy:TAG, or a time such as "
                "'2026-12-05 14:03:27+00' (ISO 8601 with its offset).",
                code=2,
            )
        return cls("time", moment.astimezone(UTC).isoformat(sep=" "))

    @property
    def moment(self) -> datetime | None:
        return datetime.fromisoformat(self.value) if self.kind == "time" else None


def refuse_undoing_the_serving_deploy(s: Stack, target: Target) -> None:
    """before-deploy:TAG while :TAG serves: the restore's migrate step would apply TAG's migrations again."""
    tag = target.value.removeprefix(RESTORE_POINT) if target.kind == "name" else ""
    if tag and deploys.deployed(s.project).get("current") == tag:
        raise Exit(
            f"✗ :{tag} is still serving: the restore ends by applying the serving code's migrations, which would "
            f"redo what {target} undoes. Roll back first (./inv prod.rollback), then run this again.",
            code=2,
        )


def pgbackrest(s: Stack, up: Set[str], *args: str) -> str:
    """pgBackRest, with the repository's key, in the running pitr service or a one-off pitr-restore container."""
    where = ["exec", "-T", "pitr"] if "pitr" in up else ["run", "--rm", "--no-deps", "-T", "pitr-restore"]
    return s.compose(*where, "pgbackrest-run.sh", *args)


def drill_step(s: Stack) -> Step:
    return Step(
        "restore drill: verify the repository, restore the newest backup and the archive into a throwaway "
        "cluster, pg_amcheck it, compare readiness and row counts with the live database",
        s.compose("exec", "-T", "pitr", "pitr-drill.sh"),
    )


def last_drill(s: Stack) -> dict | None:
    """The last drill's record, from the running pitr service; None when no drill has run."""
    text = output(
        s.compose("exec", "-T", "pitr", "sh", "-c", f"cat {DRILL_RECORD} 2>/dev/null || true"),
        step="read the last restore drill's result",
    )
    return json.loads(text) if text.strip() else None


def describe_drill(drill: dict | None) -> str:
    if drill is None:
        return "no restore drill yet (the pitr service runs one weekly; ./inv db.drill runs one now)"
    what = (
        f"passed: {drill['backup']} replayed to {drill['replayed_to'] or '?'}, {drill['tables']} tables, "
        f"{drill['rows']} rows checked"
        if drill["result"] == "passed"
        else f"FAILED: {drill['reason']}"
    )
    return f"last restore drill {drill['finished']} ({drill['seconds']} s) {what}"


def stamp(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@dataclass(frozen=True)
class Repository:
    """What pgBackRest's `info` says of the stanza, plus the server's archiver when it runs."""

    backups: list[dict]
    archive: list[dict]
    status: str
    last_archived: datetime | None = None
    last_failed: datetime | None = None
    failed_wal: str = ""
    drill: dict | None = None  # the last restore drill's record (pitr-drill.sh), when pitr runs and one ran
    unreadable: tuple[str, ...] = ()  # a repository pgBackRest could not read, and why (info's status per repo)
    clusters: tuple[tuple[int, int], ...] = ()  # (repository, system id of the cluster it holds now)

    @classmethod
    def read(cls, s: Stack, up: Set[str]) -> Repository:
        try:
            info = json.loads(output(pgbackrest(s, up, "info", "--output=json"), step="read the pgBackRest repository"))
        except (Exit, ValueError) as failed:
            raise Exit(
                f"✗ cannot read the point-in-time repository: {getattr(failed, 'message', failed)}", code=1
            ) from None
        stanza = info[0] if info else {}
        archiver: dict = {}
        if "db" in up:
            archiver = archiver_state(s)
        return cls(
            stanza.get("backup", []),
            stanza.get("archive", []),
            stanza.get("status", {}).get("message", "missing"),
            **archiver,
            drill=last_drill(s) if "pitr" in up else None,
            clusters=clusters_of(stanza),
            unreadable=tuple(
                f"the {REPOSITORIES.get(r['key'], 'repo?')} repository: {r['message']}"
                for r in stanza.get("status", {}).get("repo", [])
                if r.get("code")
            ),
        )

    @property
    def earliest(self) -> datetime | None:
        """The oldest point a restore reaches: the end of the oldest backup."""
        return stamp(min(b["timestamp"]["stop"] for b in self.backups)) if self.backups else None

    def window(self) -> str:
        if not self.backups:
            return "empty: no backup yet (the pitr service takes the first when it starts)"
        newest = f"{self.last_archived:%Y-%m-%d %H:%M:%S}+00" if self.last_archived else "the end of the archive"
        return f"{self.earliest:%Y-%m-%d %H:%M:%S}+00 .. {newest}"

    def check(self, target: Target, backup: str = "") -> None:
        """Refuse, in one line naming the window, a target the repository (or that backup) cannot reach."""
        if not self.backups:
            raise Exit("✗ the point-in-time repository holds no backup yet; nothing to restore from.", code=1)
        if len({system for _, system in self.clusters}) > 1:
            raise Exit(
                "✗ the local and off-host repositories hold different clusters (system ids "
                f"{', '.join(f'{REPOSITORIES[r]} {system}' for r, system in self.clusters)}): a new host's "
                "first deploy backed up its own empty database. Restore the off-host one into a stack without "
                "that: docs/operations.md, the host with its disks.",
                code=2,
            )
        chosen = [b for b in self.backups if b["label"] == backup]
        if backup and not chosen:
            labels = ", ".join(b["label"] for b in self.backups)
            raise Exit(f"✗ --backup {backup!r} is not in the repository; its backups: {labels}.", code=2)
        moment = target.moment
        if moment is None:
            return
        if moment < self.earliest:
            raise Exit(f"✗ {target} is before the recoverable window ({self.window()}).", code=2)
        ended = stamp(chosen[0]["timestamp"]["stop"]) if chosen else None
        if ended and moment < ended:
            raise Exit(
                f"✗ {target} is before backup {backup} ended ({ended:%Y-%m-%d %H:%M:%S}+00): restore to a later "
                "point, or from an earlier backup.",
                code=2,
            )
        if moment > datetime.now(UTC):
            raise Exit(f"✗ {target} is in the future; the recoverable window is {self.window()}.", code=2)


def archiver_state(s: Stack) -> dict:
    row = output(
        in_db(
            s,
            f"{PSQL} -tA -F ' ' -d postgres -c "  # noqa: S608 - a fixed query
            + shell(
                "SELECT coalesce(extract(epoch FROM last_archived_time), 0), "
                "coalesce(extract(epoch FROM last_failed_time), 0), coalesce(last_failed_wal, '-') "
                "FROM pg_catalog.pg_stat_archiver"
            ),
        ),
        step="read the archiver's state",
    ).split()
    archived, failed = float(row[0]), float(row[1])
    return {
        "last_archived": stamp(archived) if archived else None,
        "last_failed": stamp(failed) if failed else None,
        "failed_wal": row[2] if failed else "",
    }


REPOSITORIES = {1: "local", 2: "off-host"}


def clusters_of(stanza: dict) -> tuple[tuple[int, int], ...]:
    """Each repository's current cluster (the newest of its history), as (repository, system id)."""
    newest = {}
    for db in sorted(stanza.get("db", []), key=lambda d: d["id"]):
        newest[db.get("repo-key", 1)] = db["system-id"]
    return tuple(sorted(newest.items()))


def where(entry: dict) -> str:
    """Which repository a backup or archive entry of pgBackRest's info is in."""
    return REPOSITORIES.get(entry.get("database", {}).get("repo-key", 1), "repo?")


def show(repository: Repository) -> None:
    """db.backups' point-in-time section."""
    say(f"Point-in-time recovery (pgBackRest, {repository.status}): recoverable window {repository.window()}")
    for b in repository.backups:
        size, stored = b["info"]["size"], b["info"]["repository"]["delta"]
        say(
            f"  {where(b):<8} {b['type']:<5} {b['label']:<32} "
            f"ended {stamp(b['timestamp']['stop']):%Y-%m-%d %H:%M:%S}+00 "
            f"{size / 1e6:>9.1f}MB data {stored / 1e6:>8.1f}MB stored"
        )
    for a in repository.archive:
        say(f"  {where(a):<8} WAL {a.get('min') or '-'} .. {a.get('max') or '-'}")
    for problem in repository.unreadable:
        say(f"  ✗ {problem}")
    if repository.last_failed and (not repository.last_archived or repository.last_failed > repository.last_archived):
        say(
            f"  ✗ archiving FAILS: {repository.failed_wal} at {repository.last_failed:%Y-%m-%d %H:%M:%S}+00; "
            "the repository may be full or unwritable (./inv prod.logs -s db)"
        )
    elif repository.last_archived:
        say(f"  archiving works: last segment archived {repository.last_archived:%Y-%m-%d %H:%M:%S}+00")
    mark = "✗" if repository.drill and repository.drill["result"] != "passed" else " "
    say(f" {mark} {describe_drill(repository.drill)}")
