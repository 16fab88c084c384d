"""Docker Swarm: the prod stack on a swarm, from the same service definitions as compose/prod.

Settings in .env.prod: SWARM_HOST, SWARM_DATA_HOST, SWARM_TLS_DIR,
SWARM_REGISTRY, SWARM_PUSH_REGISTRY, SWARM_STACK (tasks/lib/swarm/manager.py). An
engine on plain tcp:// is refused before anything runs (--dry-run too). What a
stack does differently from compose, and how each prod guarantee is kept:
tasks/lib/swarm/stackfile.py.
"""

from __future__ import annotations

from datetime import UTC, datetime

from invoke import Context

from .lib import deploys, prodplans, tls
from .lib.cli import task
from .lib.db import backups, database, restores
from .lib.run import DRY_RUN_HELP, Step, confirm, execute, say
from .lib.stack import stack, tool
from .lib.swarm import data_node, manager

PROD = stack("prod")
SERVICE_HELP = "Service of the stack (default: web)."


def prepare() -> None:
    """The secret files and certificate a deploy reads, as prod.deploy makes them."""
    prodplans.ensure_secrets()
    tls.ensure_certificate()


PREPARE = Step("secret files and certificate", "made in SECRETS_DIR and TLS_DIR if missing", action=prepare)


@task(help={"dry_run": DRY_RUN_HELP})
def config(c: Context, dry_run: bool = False) -> None:
    """Generate the Swarm stack file from compose/prod and validate it with docker stack config and the compose spec."""
    tag = deploys.current_tag(PROD.project)
    file = manager.STACK_FILE.with_name("stack.config.json")
    execute(
        [
            PREPARE,
            Step(
                "generate the stack file from compose/prod's merged model",
                f"docker compose config --format json | tasks/lib/swarm/stackfile.py > {file}",
                action=lambda: manager.write(manager.generate(PROD, manager.merged_config(PROD, tag), {}), file),
            ),
            Step("validate it as docker stack deploy reads it", f"docker stack config -c {file} > /dev/null"),
            Step(
                "validate it against the compose spec",
                f"{tool('check-jsonschema')} --builtin-schema vendor.compose-spec {file}",
            ),
        ],
        dry_run,
    )


@task(
    help={
        "advertise_addr": "Address the other nodes reach this manager at (default: the engine picks one).",
        "dry_run": DRY_RUN_HELP,
    }
)
def init(c: Context, advertise_addr: str = "", dry_run: bool = False) -> None:
    """Make SWARM_HOST's engine a swarm manager, and print the command that joins a worker to it."""
    address = ["--advertise-addr", advertise_addr] if advertise_addr else []
    execute(
        [
            Step("start a swarm on the manager", manager.docker(PROD, "swarm", "init", *address)),
            Step("how a worker joins", manager.docker(PROD, "swarm", "join-token", "worker")),
        ],
        dry_run,
    )


@task(
    help={
        "data": "Node for the database, Redis and backups (their volumes live there).",
        "edge": "Node for the proxy (its ports are published there).",
        "dry_run": DRY_RUN_HELP,
    }
)
def label(c: Context, data: str, edge: str, dry_run: bool = False) -> None:
    """Pin the stateful services and the proxy: label the node that holds the data and the one facing clients."""
    execute(
        [
            Step(
                f"{data} holds the data",
                manager.docker(PROD, "node", "update", "--label-add", "desideliver.data=true", data),
            ),
            Step(
                f"{edge} faces clients",
                manager.docker(PROD, "node", "update", "--label-add", "desideliver.edge=true", edge),
            ),
        ],
        dry_run,
    )


def pre_deploy_backup() -> None:
    if not manager.runs(PROD, "backup"):
        say("  no backup service yet (a first deploy): nothing to back up")
        return
    data_node.backup(data_node.DataNode("prod"), "pre-deploy")


@task(help={"tag": "Image tag to build and deploy (default: the checkout's git revision).", "dry_run": DRY_RUN_HELP})
def deploy(c: Context, tag: str = "", dry_run: bool = False) -> None:
    """Build, push to SWARM_REGISTRY, migrate with a job, then update the stack by digest and wait until converged.

    In order, because a stack has no depends_on: the database; a safety backup;
    the db-roles and migrate jobs, each awaited; then every other service (web
    start-first and health-gated). A failed migration stops the deploy before
    any running service changes.
    """
    manager.engines(PROD)  # its first steps build and push before any reaches an engine
    tag = tag or deploys.git_revision()
    file = manager.NEXT_FILE

    def push_and_write() -> None:
        merged = manager.merged_config(PROD, tag)
        manager.write(manager.generate(PROD, merged, manager.push(PROD, tag, merged)), file)

    execute(
        [
            PREPARE,
            *prodplans.plan_build(tag),
            Step(
                f"push the images to {PROD.setting('SWARM_REGISTRY') or 'SWARM_REGISTRY'}; the stack file by digest",
                f"docker tag/push each image; {file}",
                action=push_and_write,
            ),
            Step(
                "start the database (unchanged when it runs)",
                "docker stack deploy (db); wait until it is healthy",
                action=lambda: manager.start(PROD, "db"),
            ),
            Step(
                "safety backup before migrating (when the stack runs)",
                "swarm.backup pre-deploy",
                action=pre_deploy_backup,
            ),
            Step(
                "the app's database role (job db-roles)",
                "docker stack deploy (db-roles); wait until it completed",
                action=lambda: manager.run_job(PROD, "db-roles"),
            ),
            Step(
                "migrate with the new image (job migrate, all or none)",
                "docker stack deploy (migrate); wait until it completed",
                action=lambda: manager.run_job(PROD, "migrate"),
                diagnose=lambda: (
                    "\n  The deploy stopped before any running service changed: they keep their version, and"
                    " migrate_atomic applied no migration (all or none). Fix the migration and deploy again."
                ),
            ),
            Step(
                "update every other service (web start-first, health-gated, rolled back on failure)",
                "docker stack deploy (every service but the jobs); docker stack services (every 3 s)",
                action=lambda: manager.start(PROD),
            ),
        ],
        dry_run,
    )


@task(help={"dry_run": DRY_RUN_HELP})
def ps(c: Context, dry_run: bool = False) -> None:
    """List the stack's tasks: where each runs and its state."""
    execute([Step("tasks", manager.docker(PROD, "stack", "ps", manager.name(PROD)))], dry_run)


@task(help={"service": SERVICE_HELP, "tail": "Lines of history (default: 200).", "dry_run": DRY_RUN_HELP})
def logs(c: Context, service: str = "web", tail: int = 200, dry_run: bool = False) -> None:
    """Show a service's logs from every node."""
    full = manager.full_name(PROD, service)
    execute([Step("logs", manager.docker(PROD, "service", "logs", "--tail", str(tail), full))], dry_run)


@task(help={"service": SERVICE_HELP, "replicas": "How many tasks it should run.", "dry_run": DRY_RUN_HELP})
def scale(c: Context, replicas: int, service: str = "web", dry_run: bool = False) -> None:
    """Run a service with this many replicas (a rolling, health-gated change)."""
    full = manager.full_name(PROD, service)
    execute(
        [
            Step(
                f"scale {full} to {replicas}",
                manager.docker(PROD, "service", "scale", "--detach=false", f"{full}={replicas}"),
            )
        ],
        dry_run,
    )


@task(help={"service": SERVICE_HELP, "dry_run": DRY_RUN_HELP})
def rollback(c: Context, service: str = "web", dry_run: bool = False) -> None:
    """Return a service to its previous definition (image and settings), swarm's own rollback."""
    full = manager.full_name(PROD, service)
    execute([Step(f"roll {full} back", manager.docker(PROD, "service", "rollback", "--detach=false", full))], dry_run)


@task(help={"yes": "Do not ask first (default: off; required without a terminal).", "dry_run": DRY_RUN_HELP})
def down(c: Context, yes: bool = False, dry_run: bool = False) -> None:
    """Remove the stack's services and networks (volumes stay on their nodes)."""
    if not dry_run:
        confirm(f"This removes every service of the stack '{manager.name(PROD)}' (its volumes stay).", yes)
    execute([Step("remove the stack", manager.docker(PROD, "stack", "rm", manager.name(PROD)))], dry_run)
    say("  Data volumes stay on their nodes: docker volume ls there.")


@task(help={"dry_run": DRY_RUN_HELP})
def backup(c: Context, dry_run: bool = False) -> None:
    """Back up the swarm's database on its data node, as db.backup does; the dump is copied to the backups dir here."""
    manager.engines(PROD)  # its one step reaches the data node only as it runs, so never in --dry-run
    execute(
        [
            Step(
                "take a verified backup in the backup task; copy it here and check it",
                "docker exec <backup task> backup-once.sh; docker cp",
                action=lambda: data_node.backup(data_node.DataNode("prod")),
            )
        ],
        dry_run,
    )


@task(
    positional=["file"],
    help={
        "file": "Backup to restore: a path, a name in the backups directory here, or 'latest' (required).",
        "yes": "Do not ask before replacing the database (default: off; required without a terminal).",
        "other_env": backups.OTHER_ENV_HELP,
        "dry_run": DRY_RUN_HELP,
    },
)
def restore(
    c: Context, file: str | None = None, yes: bool = False, other_env: bool = False, dry_run: bool = False
) -> None:
    """Replace the swarm's database with a backup from here: inv swarm.restore FILE|latest (single-host dumps too)."""
    node = data_node.DataNode("prod")
    manager.engines(node)  # the manager's and the data node's, before the file is read or a question asked
    dump = backups.resolve("prod", file or "", other_env)
    swap = restores.Swap.at(node.setting("POSTGRES_DB", "desideliver"), datetime.now(UTC))
    same_schema = backups.read_metadata(dump).get("migrations") == database.migration_state(node)
    if not dry_run:
        confirm(
            f"This replaces database '{swap.live}' of the swarm stack '{manager.name(node)}' with {dump.name}; "
            f"the current one is kept as '{swap.previous}'.",
            yes,
        )
    data_node.restore(node, dump, swap, not same_schema, dry_run)
