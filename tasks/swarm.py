"""Docker Swarm: the prod stack on a swarm, from the same service definitions as compose/prod.

Settings in .env.prod: SWARM_HOST, SWARM_REGISTRY, SWARM_PUSH_REGISTRY,
SWARM_STACK (tasks/lib/swarmops.py). What a stack does differently from
compose, and how each prod guarantee is kept: tasks/lib/swarmstack.py.
"""

from __future__ import annotations

from invoke import Context

from .lib import deploys, prodplans, swarmops, tls
from .lib.cli import task
from .lib.run import DRY_RUN_HELP, Step, confirm, execute, say
from .lib.stack import stack, tool

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
    file = swarmops.STACK_FILE
    execute(
        [
            PREPARE,
            Step(
                "generate the stack file from compose/prod's merged model",
                f"docker compose config --format json | tasks/lib/swarmstack.py > {file}",
                action=lambda: swarmops.write(
                    swarmops.generate(PROD, swarmops.merged_config(PROD, tag), {}, jobs=False)
                ),
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
            Step("start a swarm on the manager", swarmops.docker(PROD, "swarm", "init", *address)),
            Step("how a worker joins", swarmops.docker(PROD, "swarm", "join-token", "worker")),
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
                swarmops.docker(PROD, "node", "update", "--label-add", "desideliver.data=true", data),
            ),
            Step(
                f"{edge} faces clients",
                swarmops.docker(PROD, "node", "update", "--label-add", "desideliver.edge=true", edge),
            ),
        ],
        dry_run,
    )


@task(help={"tag": "Image tag to build and deploy (default: the checkout's git revision).", "dry_run": DRY_RUN_HELP})
def deploy(c: Context, tag: str = "", dry_run: bool = False) -> None:
    """Build the images, push them to SWARM_REGISTRY, deploy the stack by digest, wait until it converged."""
    tag = tag or deploys.git_revision()
    file = swarmops.STACK_FILE

    def push_and_write() -> None:
        merged = swarmops.merged_config(PROD, tag)
        swarmops.write(swarmops.generate(PROD, merged, swarmops.push(PROD, tag, merged), jobs=True))

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
                "deploy the stack",
                swarmops.docker(PROD, "stack", "deploy", "--with-registry-auth", "-c", str(file), swarmops.name(PROD)),
            ),
            Step(
                "wait until every service converged",
                "docker stack services (every 3 s)",
                action=lambda: swarmops.wait_converged(PROD),
            ),
        ],
        dry_run,
    )


@task(help={"dry_run": DRY_RUN_HELP})
def ps(c: Context, dry_run: bool = False) -> None:
    """List the stack's tasks: where each runs and its state."""
    execute([Step("tasks", swarmops.docker(PROD, "stack", "ps", swarmops.name(PROD)))], dry_run)


@task(help={"service": SERVICE_HELP, "tail": "Lines of history (default: 200).", "dry_run": DRY_RUN_HELP})
def logs(c: Context, service: str = "web", tail: int = 200, dry_run: bool = False) -> None:
    """Show a service's logs from every node."""
    full = f"{swarmops.name(PROD)}_{service}"
    execute([Step("logs", swarmops.docker(PROD, "service", "logs", "--tail", str(tail), full))], dry_run)


@task(help={"service": SERVICE_HELP, "replicas": "How many tasks it should run.", "dry_run": DRY_RUN_HELP})
def scale(c: Context, replicas: int, service: str = "web", dry_run: bool = False) -> None:
    """Run a service with this many replicas (a rolling, health-gated change)."""
    full = f"{swarmops.name(PROD)}_{service}"
    execute(
        [
            Step(
                f"scale {full} to {replicas}",
                swarmops.docker(PROD, "service", "scale", "--detach=false", f"{full}={replicas}"),
            )
        ],
        dry_run,
    )


@task(help={"service": SERVICE_HELP, "dry_run": DRY_RUN_HELP})
def rollback(c: Context, service: str = "web", dry_run: bool = False) -> None:
    """Return a service to its previous definition (image and settings), swarm's own rollback."""
    full = f"{swarmops.name(PROD)}_{service}"
    execute([Step(f"roll {full} back", swarmops.docker(PROD, "service", "rollback", "--detach=false", full))], dry_run)


@task(help={"yes": "Do not ask first (default: off; required without a terminal).", "dry_run": DRY_RUN_HELP})
def down(c: Context, yes: bool = False, dry_run: bool = False) -> None:
    """Remove the stack's services and networks (volumes stay on their nodes)."""
    if not dry_run:
        confirm(f"This removes every service of the stack '{swarmops.name(PROD)}' (its volumes stay).", yes)
    execute([Step("remove the stack", swarmops.docker(PROD, "stack", "rm", swarmops.name(PROD)))], dry_run)
    say("  Data volumes stay on their nodes: docker volume ls there.")
