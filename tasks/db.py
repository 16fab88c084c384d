"""Database: migrations, psql, and backup / restore / transfer of the compose PostgreSQL."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from invoke import Context
from invoke.exceptions import Exit

from .lib import lock
from .lib.cli import task
from .lib.compose import manage_step, one_off
from .lib.db import backups, database, restores
from .lib.db import transfer as transfer_plan
from .lib.pitr import cluster_restore, repository
from .lib.run import DRY_RUN_HELP, Step, confirm, execute, meanwhile, say, shell
from .lib.stack import APP_SERVICES, ROOT, Stack, backups_dir, docker_problem, stack

ENV_HELP = "Which stack: dev or prod (default: dev)."


@task(help={"env": ENV_HELP, "dry_run": DRY_RUN_HELP})
def migrate(c: Context, env: str = "dev", dry_run: bool = False) -> None:
    """Apply Django migrations (dev: in the running web container or natively; prod: a one-off migrate container)."""
    s = stack(env)
    if env == "prod":
        execute([Step("migrate", s.compose("run", "--rm", "-T", "migrate"))], dry_run)
    else:
        execute([manage_step(s, ["migrate", "--noinput"], dry_run)], dry_run)


@task(help={"app": "Only this Django app (default: all apps).", "dry_run": DRY_RUN_HELP})
def makemigrations(c: Context, app: str = "", dry_run: bool = False) -> None:
    """Create migrations for model changes (dev; files are owned by you)."""
    execute([manage_step(stack("dev"), ["makemigrations", *([app] if app else [])], dry_run)], dry_run)


@task(
    help={
        "env": ENV_HELP,
        "command": "Run this SQL and exit instead of opening psql (default: none; piped input also works).",
        "dry_run": DRY_RUN_HELP,
    }
)
def psql(c: Context, env: str = "dev", command: str = "", dry_run: bool = False) -> None:
    """Open psql on the stack's database (as its owner role), run -c SQL, or run SQL piped in."""
    s = stack(env)
    if not dry_run:
        s.require_running("db", "db.psql")
    sql = f" -c {shell(command)}" if command else ""
    database_name, role = s.setting("POSTGRES_DB", "desideliver"), s.setting("POSTGRES_USER", "desideliver")
    app = database.app_user(s)
    say(
        f"psql on database {database_name} as role {role}"
        + (f" (the superuser; the app connects as {app})" if app != role else "")
    )
    psql_command = ["sh", "-c", f'psql -X -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB"{sql}']
    execute([one_off(s, "db", psql_command, running=True)], dry_run)


@task(help={"env": ENV_HELP, "dry_run": DRY_RUN_HELP})
def backup(c: Context, env: str = "dev", dry_run: bool = False) -> None:
    """Back up the database into the backups directory: verified, checksummed, with metadata, then pruned by age."""
    s = stack(env)
    up = s.running_services()
    if not dry_run:
        s.require_running("db", "db.backup", up)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    with lock.held(s, "db.backup", dry_run):
        execute([database.backup_step(s, up=up)], dry_run)
    if not dry_run:
        made = backups.newest(s.env, since=started)
        say(f"✓ backup {made.dump if made else '(not found: see the output above)'}")


@task(
    positional=["file"],
    help={
        "file": "Dump to restore: a path, a name in the backups directory, or 'latest' (or use --to).",
        "to": repository.TARGET_HELP,
        "backup": "With --to: the backup set to start from, a label db.backups lists (e.g. the earlier one a "
        "restore names when the newest is damaged) (default: the newest that reaches the target).",
        "env": ENV_HELP,
        "yes": "Do not ask before replacing the database (default: off; required without a terminal).",
        "other_env": backups.OTHER_ENV_HELP,
        "dry_run": DRY_RUN_HELP,
    },
)
def restore(
    c: Context,
    file: str | None = None,
    to: str = "",
    backup: str = "",
    env: str = "dev",
    yes: bool = False,
    other_env: bool = False,
    dry_run: bool = False,
) -> None:
    """Replace the database with a dump (FILE|latest), or the cluster with its state at a point (--to, prod)."""
    s = stack(env)
    if to:
        if file or env != "prod":
            raise Exit("✗ --to restores prod's cluster to a point: give --env prod and no FILE.", code=2)
        restore_to(s, repository.Target.parse(to), backup, yes, dry_run)
        return
    if backup:
        raise Exit("✗ --backup names a point-in-time backup set: use it with --to (prod).", code=2)
    if dry_run and file == "latest" and backups.newest(s.env) is None:
        dump = backups_dir() / f"<the newest {s.env} backup>"
        say(f"Note: no {s.env} backup in {backups_dir()} yet; a real run stops here "
            f"(take one: ./inv db.backup --env {s.env}). The plan once one exists:")  # fmt: skip
    else:
        dump = backups.resolve(s.env, file or "", other_env)
    now = datetime.now(UTC)
    swap = restores.Swap.at(s.setting("POSTGRES_DB", "desideliver"), now)
    # Read-only looks: what runs is paused during the swap; a checksum-verified dump needs no second full read.
    up = s.running_services()
    if not dry_run:
        s.require_running("db", "db.restore", up)
    running = [name for name in APP_SERVICES if name in up]
    # At once: a dump from a newer PostgreSQL is refused before anything is asked, and the live schema is read
    # (a dump made at it, as its metadata says, needs no migrations; any other gets them).
    check = (lambda: database.check_versions(s, dump)) if "db" in up and dump.is_file() else (lambda: None)
    with meanwhile(check) as versions:
        live = database.migration_state(s) if running else None
    versions.result()
    same_schema = live is not None and dump.is_file() and backups.read_metadata(dump).get("migrations") == live
    verified = backups.sidecar(dump, "sha256").exists()  # resolve() refused one that did not match
    plan = Restore(s, dump, swap, running, verified, database.app_user(s), not same_schema, frozenset(up))
    if dry_run:
        execute([*plan.prepare(), *plan.switch(), database.ready_step(s)], dry_run=True)
        say("On a failure before the swap these would run:")
        execute(restores.plan_recover(s, swap, running), dry_run=True)
        say("On a failure after the swap (the app not ready on the restored database) these would run:")
        execute(restores.plan_swap_back(s, swap), dry_run=True)
        return
    confirm(
        f"This replaces database '{swap.live}' of the {env} stack ({s.project}) with {dump.name}; "
        f"the current one is kept as '{swap.previous}'.",
        yes,
    )
    with lock.held(s, f"db.restore of {dump.name}"):
        restore_locked(plan, now)


@dataclass(frozen=True)
class Restore:
    s: Stack
    dump: Path
    swap: restores.Swap
    running: list[str]
    verified: bool
    user: str
    migrate: bool = True
    up: frozenset[str] | None = None  # the stack's running services, as read before the plan

    def prepare(self) -> list[Step]:
        return restores.plan_prepare_restore(
            self.s, self.dump, self.swap, self.verified, self.user, self.migrate, self.up
        )

    def switch(self) -> list[Step]:
        return restores.plan_switch(self.s, self.swap, self.running)


def restore_locked(plan: Restore, now: datetime) -> None:
    s, dump, swap = plan.s, plan.dump, plan.swap

    def safety() -> str:
        return database.describe(backups.newest(s.env, "pre-restore", since=now.isoformat(timespec="seconds")))

    try:
        execute(plan.prepare())
    except Exit:
        say(f"✗ the restore stopped before the swap; the live database is unchanged. Safety backup: {safety()}.")
        execute(restores.plan_recover(s, swap, []))
        raise
    unavailable = restores.switch_over(plan, safety)
    say(f"  the app was unavailable for {unavailable:.1f}s (paused while the databases were renamed)")
    say(
        f"✓ restored {dump.name} into '{swap.live}' ({s.env}); the replaced database is kept as "
        f"'{swap.previous}' until the next restore, and was backed up to {safety()}."
    )


def restore_to(s: Stack, target: repository.Target, backup: str, yes: bool, dry_run: bool) -> None:
    plan = cluster_restore.ClusterRestore(s, target, datetime.now(UTC), frozenset(s.running_services()), backup)
    if dry_run:
        execute([*plan.prepare(), *plan.switch(), database.ready_step(s), plan.drop_older()], dry_run=True)
        say("On a failure after the switch these would run:")
        execute(plan.switch_back(), dry_run=True)
        return
    repository.refuse_undoing_the_serving_deploy(s, target)
    repo = repository.Repository.read(s, plan.up)
    repo.check(target, backup)
    confirm(
        f"This replaces the whole database cluster of the prod stack ({s.project}) with its state at {target} "
        f"(recoverable: {repo.window()}); the current cluster is kept as {plan.previous} until the next "
        "restore.",
        yes,
    )
    with lock.held(s, f"db.restore --to {target}"):
        unavailable = cluster_restore.restore(plan)
    say(f"  the app was paused for {unavailable:.1f}s (while the clusters were switched)")
    say(f"✓ restored the cluster to {target}; the previous one is kept as {plan.previous} until the next restore.")


@task(help={"env": "Only prod has point-in-time backups to drill (default: prod).", "dry_run": DRY_RUN_HELP})
def drill(c: Context, env: str = "prod", dry_run: bool = False) -> None:
    """Prove the newest point-in-time backup restores: verify, restore beside, pg_amcheck, compare counts (prod)."""
    if env != "prod":
        raise Exit(f"✗ {env} has no point-in-time backups to drill; the drill runs on prod: ./inv db.drill", code=2)
    s = stack(env)
    if not dry_run:
        s.require_running("pitr", "db.drill")
    with lock.held(s, "db.drill", dry_run):
        execute([repository.drill_step(s)], dry_run)
    if not dry_run:
        say(f"✓ {repository.describe_drill(repository.last_drill(s))}")


@task(name="backups", help={"env": "Only this environment's backups: dev or prod (default: every environment's)."})
def list_backups(c: Context, env: str = "") -> None:
    """List dumps of every environment (kind, size, age, checksum) and prod's point-in-time window and backups."""
    if env:
        stack(env)  # validates the name
    if env in ("", "prod") and docker_problem() is None and stack("prod").volume_exists("pgbackrest_repo"):
        prod = stack("prod")
        repository.show(repository.Repository.read(prod, frozenset(prod.running_services())))
    found = backups.listing(env)
    if not found:
        say(f"No dumps in {backups_dir()}.")
        return
    now = time.time()
    say(f"{'env':<5} {'kind':<11} {'backup':<56} {'size':>10} {'age':>9}  checksum")
    for b in found:
        age = (now - b.dump.stat().st_mtime) / 3600
        say(
            f"{b.environment:<5} {b.kind:<11} {b.dump.name:<56} {b.size_bytes / 1e6:>8.1f}MB {age:>8.1f}h  "
            f"{backups.checksum_state(b.dump)}"
        )


@task(
    help={
        "source": "SQLite database to move (default: var/db.sqlite3, the native stack's).",
        "yes": "Replace the target's data without asking when it holds any (default: off).",
        "dry_run": DRY_RUN_HELP,
    }
)
def transfer(c: Context, source: str = "var/db.sqlite3", yes: bool = False, dry_run: bool = False) -> None:
    """Move the native stack's SQLite data into the Docker dev stack's PostgreSQL (one transaction, counts compared)."""
    s = stack("dev")
    path = Path(source) if Path(source).is_absolute() else ROOT / source
    missing = f"no SQLite database at {path}; the native stack keeps its data in var/db.sqlite3"
    if not path.is_file() and not dry_run:
        raise Exit(f"✗ {missing}.", code=2)
    snapshot = ROOT / "var" / f"transfer-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    if dry_run:
        if not path.is_file():
            say(f"Note: {missing} yet; a real run stops here. The plan once it exists:")
        say("Would check first that the dev stack's web runs and whether its database holds data (then ask).")
        execute(transfer_plan.plan(s, path, snapshot, replace=False), dry_run=True)
        return
    s.require_running("web", "db.transfer")
    holding = {
        k: v
        for k, v in transfer_plan.counts(s.exec("web", "python", "manage.py", "model_counts"), "PostgreSQL").items()
        if v
    }
    if holding:
        confirm(
            f"The dev stack's PostgreSQL ({s.project}) already holds data "
            f"({sum(holding.values())} rows, e.g. {', '.join(list(holding)[:3])}); it will be REPLACED "
            f"by the contents of {path.name}.",
            yes,
        )
    snapshot.parent.mkdir(mode=0o700, exist_ok=True)
    with lock.held(s, "db.transfer"):
        try:
            execute(transfer_plan.plan(s, path, snapshot, replace=bool(holding)))
        finally:
            snapshot.unlink(missing_ok=True)
