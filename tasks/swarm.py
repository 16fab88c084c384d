"""Docker Swarm: the prod stack generated for a swarm (groundwork; deploys come next)."""

from __future__ import annotations

import json

from invoke import Context

from .lib import prodplans, swarmstack, tls
from .lib.cli import task
from .lib.run import DRY_RUN_HELP, ROOT, Step, execute, output, say
from .lib.stack import stack, tls_dir, tool

PROD = stack("prod")
STACK_FILE = ROOT / "var" / "swarm" / "stack.json"


def write_stack() -> None:
    # The same secret files and certificate prod.deploy makes (fresh, or kept).
    prodplans.ensure_secrets()
    tls.ensure_certificate()
    merged = json.loads(output(PROD.compose("config", "--format", "json"), step="render compose/prod"))
    generated = swarmstack.stack(merged, PROD.project, {}, tls_dir())
    STACK_FILE.parent.mkdir(parents=True, exist_ok=True)
    STACK_FILE.write_text(json.dumps(generated, indent=2) + "\n")
    say(f"  wrote {STACK_FILE.relative_to(ROOT)}: {len(generated['services'])} services, no secret values (files only)")


@task(help={"dry_run": DRY_RUN_HELP})
def config(c: Context, dry_run: bool = False) -> None:
    """Generate the Swarm stack file from compose/prod and validate it with docker stack config and the compose spec."""
    execute(
        [
            Step(
                "generate the stack file from compose/prod's merged model",
                f"docker compose config --format json | tasks/lib/swarmstack.py > {STACK_FILE.relative_to(ROOT)}",
                action=write_stack,
            ),
            Step("validate it as docker stack deploy reads it", f"docker stack config -c {STACK_FILE} > /dev/null"),
            Step(
                "validate it against the compose spec",
                f"{tool('check-jsonschema')} --builtin-schema vendor.compose-spec {STACK_FILE}",
            ),
        ],
        dry_run,
    )
