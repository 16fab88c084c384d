"""The swarm's database: backups and restores on the data node, with the files and checks of db.*.

Commands reach the stack's tasks on the node labelled desideliver.data through
its engine (SWARM_DATA_HOST): backup-once.sh in the running backup task, psql
and pg_restore in the db task. Every dump is copied into this host's backups
directory, so `./inv db.backups` lists it and `./inv db.restore FILE --env
prod` restores it into a single-host stack; `swarm.restore` takes the same
files the other way.

A swarm cannot pause services as compose does. The swap renames the databases
while the app runs: the renames cut the app's connections off, and they are
retried while a new connection slips in. Requests in flight at that instant
fail; later ones reach the restored database.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from invoke.exceptions import Exit

from ..db import backups, database, restores
from ..run import Step, execute, output, run, say
from ..stack import Stack
from . import manager

DATA = "SWARM_DATA_HOST"
SWAP_ATTEMPTS = 5


def container(s: Stack, service: str) -> str:
    """The running task container of `service` on the data node."""
    full = manager.full_name(s, service)
    found = output(
        manager.docker(s, "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={full}", node=DATA),
        step=f"find {full} on the data node",
    ).split()
    if not found:
        engine = s.setting(DATA) or s.setting("SWARM_HOST") or "this host's engine"
        raise Exit(
            f"✗ no running {full} task on the data node's engine ({engine}); set SWARM_DATA_HOST in .env.prod to "
            "the engine of the node labelled desideliver.data (./inv swarm.ps shows where db runs).",
            code=2,
        )
    return found[0]


@dataclass(frozen=True)
class DataNode(Stack):
    """The prod stack as a swarm runs it: `exec` runs in the service's task on the data node."""

    # One lookup per service (each a round trip to a remote engine, often over
    # ssh): a task stays the same for one backup or restore.
    tasks: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def exec(self, service: str, *command: str) -> str:
        if service not in self.tasks:
            self.tasks[service] = container(self, service)
        return manager.docker(self, "exec", "-i", self.tasks[service], *command, node=DATA)


def backup(s: Stack, kind: str = "") -> Path:
    """One verified backup by the backup task (backup-once.sh), copied into this host's backups directory, checked."""
    source = container(s, "backup")
    once = manager.docker(s, "exec", source, "backup-once.sh", *([kind] if kind else []), node=DATA)
    written = re.search(r"backup: wrote (\S+)", output(once, step="backup-once.sh in the backup task", timeout=3600))
    if written is None:
        raise Exit("✗ the backup task wrote no backup; see ./inv swarm.logs -s backup", code=1)
    name = written.group(1)
    directory = backups.prepare_dir()
    incoming = directory / f".incoming-{name}"
    incoming.mkdir(mode=0o700)
    try:
        for suffix in (".sha256", ".json", ""):
            copy_out = manager.docker(s, "cp", f"{source}:/backups/{name}{suffix}", str(incoming), node=DATA)
            run(copy_out, step=f"copy {name}{suffix} from the data node", capture=True, timeout=3600)
        if backups.checksum_state(incoming / name) != "ok":
            raise Exit(f"✗ the copy of {name} does not match its checksum and was not kept; run it again.", code=1)
        for suffix in (".sha256", ".json", ""):  # the dump last: only a checked copy looks finished
            (incoming / f"{name}{suffix}").rename(directory / f"{name}{suffix}")
    finally:
        shutil.rmtree(incoming, ignore_errors=True)
    say(f"  {name}: on the data node in its backups directory, and here in {directory}")
    return directory / name


def one_off(s: Stack, job: str, environment: dict[str, str], command: list[str] | None = None) -> None:
    """A job from the deployed migrate service's definition (image, secrets, networks), run once and removed."""
    if not manager.STACK_FILE.exists():
        raise Exit(f"✗ {manager.STACK_FILE} is missing: run ./inv swarm.deploy from this checkout first.", code=2)
    generated = json.loads(manager.STACK_FILE.read_text())
    spec = copy.deepcopy(generated["services"]["migrate"])
    spec["environment"] = {**spec.get("environment", {}), **environment}
    if command:
        spec["command"] = command
    manager.deploy_part(s, {**generated, "services": {job: spec}}, job)
    try:
        manager.wait_job(s, job)
    finally:
        run(manager.docker(s, "service", "rm", manager.full_name(s, job)), step="remove the job", capture=True)


def swap_in(s: Stack, sql: str) -> None:
    """The renames in one transaction; retried while a connection slipped in between the cut-off and the rename."""
    for attempt in range(1, SWAP_ATTEMPTS + 1):
        result = run(database.on_postgres(s, sql, True), step="swap the databases", capture=True, check=False)
        if result.returncode == 0:
            return
        if "is being accessed by other users" not in result.stderr or attempt == SWAP_ATTEMPTS:
            raise Exit(f"✗ the swap failed and changed nothing: {result.stderr.strip()[-300:]}", code=1)
        time.sleep(0.2)


def restore(s: Stack, dump: Path, swap: restores.Swap, migrate: bool, dry_run: bool) -> None:
    """Restore aside, migrate aside, swap in, check readiness; undo the swap if the app is not ready on it."""
    user = database.app_user(s)
    scratch_url = f"postgres://{user}@db:5432/{swap.scratch}"
    prepare = [
        restores.version_step(s, dump),
        restores.room_step(s, swap),
        *restores.safety_backup_and_scratch(
            s,
            Step(
                "take a verified pre-restore backup, copied here",
                "docker exec <backup task> backup-once.sh pre-restore; docker cp",
                action=lambda: backup(s, "pre-restore"),
            ),
            dump,
            swap,
            user,
        ),
        *(
            [
                Step(
                    "apply migrations to the restored database (a job of the deployed image)",
                    f"job restore-migrate: DATABASE_URL={scratch_url} python manage.py migrate_atomic",
                    action=lambda: one_off(s, "restore-migrate", {"DATABASE_URL": scratch_url}),
                )
            ]
            if migrate
            else []
        ),
    ]
    renames = swap.renames(swap.previous, swap.scratch)
    switch = Step("swap the restored database in (one transaction)", database.on_postgres(s, renames, True))
    ready = Step(
        "check the app is ready on it (a job: database, cache, migrations)",
        "job restore-ready: python manage.py check_ready",
        action=lambda: one_off(s, "restore-ready", {}, ["python", "manage.py", "check_ready"]),
    )
    if dry_run:
        execute([*prepare, switch, ready], dry_run=True)
        return
    try:
        execute(prepare)
        started = time.monotonic()
        swap_in(s, renames)
    except Exit:
        say("✗ the restore stopped before the swap took effect; the live database is unchanged.")
        execute(restores.plan_recover(s, swap, []))
        raise
    say(f"  swapped in {time.monotonic() - started:.2f}s; connections open at that instant were cut off")
    try:
        execute([ready])
    except Exit as failure:
        swap_in(s, swap.renames(swap.failed, swap.previous))
        raise Exit(
            f"✗ the app was not ready on the restored database, so '{swap.previous}' is live again; the restored "
            f"copy is kept as '{swap.failed}'.\n  failure: {failure.message}",
            code=failure.code or 1,
        ) from None
    say(f"✓ restored {dump.name} into '{swap.live}' on the swarm; the replaced database is kept as '{swap.previous}'.")
