"""Production stack: build, check, deploy and operate."""

from __future__ import annotations

from contextlib import nullcontext

from invoke import Context
from invoke.exceptions import Exit

from .lib import backups, checks, compose, database, deploys, lock, rollout
from .lib.cli import task
from .lib.run import DRY_RUN_HELP, LOG_DIR, ROOT, Step, confirm, execute, output, say
from .lib.stack import create_env_file, docker_problem, stack

PROD = stack("prod")
# Variables prod cannot start without (compose stops on them too, less readably).
REQUIRED = ("SECRET_KEY", "ALLOWED_HOSTS", "POSTGRES_PASSWORD", "REDIS_PASSWORD", "EMAIL_URL")
TAG_HELP = "Image tag to use (default: the deployed tag, or the checkout's git revision before the first deploy)."
BUILD_TAG_HELP = "Image tag to build and deploy (default: the checkout's git revision)."
WAIT_HELP = "Seconds to wait for every service to be healthy (default: 300)."
IMAGE_SERVICES = ("web", "backup", "proxy")
LOG = LOG_DIR / "prod.deploy.log"


def compose_step(name: str, tag: str, *args: str, hint: str = "", quiet: bool = False) -> Step:
    """A prod compose command with IMAGE_TAG set, so every service uses the same images.

    Quiet steps (builds, starts) write their output to the task's log file.
    """
    diagnose = (lambda: compose.diagnose(PROD)) if args[0] == "up" else None
    return Step(name, PROD.compose(*args), env={"IMAGE_TAG": tag}, hint=hint, quiet=quiet, diagnose=diagnose)


def preflight() -> None:
    """Fail before touching anything when the env file lacks what prod needs."""
    if create_env_file("prod"):
        say(f"  A local trial as is; review {PROD.env_file.name} before putting the stack on a public address.")
    missing = [name for name in REQUIRED if not PROD.setting(name)]
    if missing:
        raise Exit(
            f"✗ {PROD.env_file.name} lacks {', '.join(missing)}; set them (see .env.prod.example) and retry.", code=2
        )
    if problem := docker_problem():
        raise Exit(f"✗ cannot deploy: {problem}.", code=1)
    # Created by us, 0700, not by the engine (which would make it root's).
    backups.prepare_dir()


PREFLIGHT = Step(
    "preflight: env file (created from .env.prod.example if missing), required variables, engine, backups directory",
    f"check {', '.join(REQUIRED)} are set; docker info; the backups directory is writable",
    action=preflight,
)


SMOKE = Step(
    "smoke-test through the proxy",
    "GET /api/v1/health/ready/ and /api/v1/products/",
    action=lambda: rollout.smoke_test(PROD),
)


def plan_build(tag: str) -> list[Step]:
    # One service per image: compose builds an image once per service that names it.
    return [compose_step(f"build the prod images as :{tag}", tag, "build", *IMAGE_SERVICES, quiet=True)]


def django_check_step(tag: str) -> Step:
    check = ["python", "manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    return compose_step(
        "Django check --deploy in the prod image", tag, "run", "--rm", "--no-deps", "-T", "-e", "WAIT_FOR_DB=false",
        "web", *check, quiet=True,
    )  # fmt: skip


def start_step(tag: str, wait_timeout: int) -> Step:
    up = ["up", "--detach", "--wait", "--wait-timeout", str(wait_timeout), "--remove-orphans"]
    name = "start the stack and wait until every service is healthy"
    return compose_step(name, tag, *up, hint=PROD.start_hint(), quiet=True)


def plan_pre_deploy_backup(tag: str, running: bool) -> list[Step]:
    """A database that exists is backed up before anything migrates it, running stack or not."""
    start_db = (
        [] if running else [compose_step("start the database for the backup", tag, "up", "--detach", "--wait", "db")]
    )
    return [*start_db, database.backup_step(PROD, "pre-deploy")]


def plan_deploy(tag: str, wait_timeout: int, running: bool, has_data: bool) -> tuple[list[Step], list[Step]]:
    """Two plans: `prepare` changes nothing live; any failure in `switch` is rolled back."""
    prepare = [
        PREFLIGHT,
        compose_step("validate the compose config", tag, "config", "-q"),
        *plan_build(tag),
        django_check_step(tag),
        *(plan_pre_deploy_backup(tag, running) if has_data else []),
    ]
    switch = [
        # From the new image, before any new code runs, in one transaction.
        compose_step("apply migrations (all or none) from the new image", tag, "run", "--rm", "-T", "migrate"),
        Step(
            "roll out: new web beside the old, then worker, beat, backup, proxy; gate on readiness",
            f"IMAGE_TAG={tag} {PROD.compose('up', '--detach', '--no-deps', '--no-recreate', '--scale', 'web=N+1')}"
            " web ... (docs/operations.md: the rollout)",
            action=lambda: rollout.rollout(PROD, tag, wait_timeout),
        )
        if running
        else start_step(tag, wait_timeout),
        SMOKE,
    ]
    return prepare, switch


@task(help={"tag": BUILD_TAG_HELP, "dry_run": DRY_RUN_HELP})
def build(c: Context, tag: str = "", dry_run: bool = False) -> None:
    """Build the prod images, tagged with the git revision."""
    execute(plan_build(tag or deploys.git_revision()), dry_run)


@task(help={"show_secrets": "Print passwords and keys as they are (default: off, masked).", "dry_run": DRY_RUN_HELP})
def config(c: Context, show_secrets: bool = False, dry_run: bool = False) -> None:
    """Print the merged prod compose config that would run (secrets masked unless --show-secrets)."""
    raw = compose_step("render the merged config", deploys.current_tag(PROD.project), "config")
    masked = Step(
        raw.name,
        f"{raw.render()} (secrets masked)",
        action=lambda: say(checks.masked(output(raw.command, step=raw.name, env=raw.env))),
    )
    execute([raw if show_secrets else masked], dry_run)


@task(help={"tag": BUILD_TAG_HELP, "dry_run": DRY_RUN_HELP})
def check(c: Context, tag: str = "", dry_run: bool = False) -> None:
    """Security checks: check --deploy in the image, hadolint, compose validation and lint, secret scan."""
    tag = tag or deploys.git_revision()
    execute([django_check_step(tag), *checks.plan_check(tag)], dry_run)


@task(help={"tag": BUILD_TAG_HELP, "wait_timeout": WAIT_HELP, "dry_run": DRY_RUN_HELP})
def deploy(c: Context, tag: str = "", wait_timeout: int = 300, dry_run: bool = False) -> None:
    """Deploy: build, check, back up, migrate, roll out without a gap, smoke-test; roll back on any failure."""
    tag = tag or deploys.git_revision()
    previous = deploys.deployed(PROD.project).get("current", "")
    # Read-only looks, so a dry run shows the branch a real deploy would take.
    running, has_data = PROD.is_running("web"), PROD.volume_exists("postgres_data")
    prepare, switch = plan_deploy(tag, wait_timeout, running, has_data)
    if dry_run:
        say(
            f"Checked: web is {'running: a rollout beside it' if running else 'not running: a plain start'}; "
            f"the database volume {'exists: backed up first' if has_data else 'does not exist yet: no backup'}."
        )
        execute([*prepare, *switch], dry_run=True)
        say(f"On a failure after migrations: roll back to :{previous or '(the previous tag)'}, then smoke-test.")
        return
    with lock.held(PROD, f"prod.deploy of :{tag}"):
        say(f"Deploying :{tag}; full output goes to {LOG.relative_to(ROOT)}.")
        execute(prepare, log=LOG)
        schema = database.migration_state(PROD) if has_data and running else {}
        watch = rollout.watching(rollout.base_url(PROD), rollout.proxy_headers(PROD)) if running else nullcontext()
        with watch as availability:
            try:
                execute(switch, log=LOG)
            except Exit as failure:
                if not (running and previous):
                    raise
                say(f"✗ deploying :{tag} failed; rolling back to :{previous}")
                execute(plan_rollback(previous, wait_timeout))
                backup = backups.newest("prod", "pre-deploy")
                raise Exit(
                    f"✗ deploy of :{tag} failed and was rolled back; :{previous} is serving.\n"
                    f"  failure: {failure.message}\n"
                    f"  pre-deploy backup: {database.describe(backup)}\n"
                    f"{database.schema_note(PROD, schema)}\n"
                    f"  {availability.report()}",
                    code=failure.code or 1,
                ) from None
        deploys.record(PROD.project, tag)
        say(compose.summary(PROD))
        if running:
            say(availability.report())


def plan_rollback(tag: str, wait_timeout: int) -> list[Step]:
    return [
        Step(f"roll back to :{tag}", f"rollout :{tag}", action=lambda: rollout.rollout(PROD, tag, wait_timeout)),
        SMOKE,
    ]


@task(help={"wait_timeout": WAIT_HELP, "dry_run": DRY_RUN_HELP})
def rollback(c: Context, wait_timeout: int = 300, dry_run: bool = False) -> None:
    """Redeploy the image tag that was in service before the last deploy (no build, no migrations)."""
    previous = deploys.deployed(PROD.project).get("previous")
    if not previous:
        raise Exit(f"✗ no previous deploy is recorded for {PROD.project}; nothing to roll back to.", code=2)
    record = Step(f"record :{previous} as deployed", f"write {deploys.record_path(PROD.project)}",
                  action=lambda: deploys.record(PROD.project, previous))  # fmt: skip
    with lock.held(PROD, f"prod.rollback to :{previous}", dry_run):
        execute([PREFLIGHT, *plan_rollback(previous, wait_timeout), record], dry_run)
    if not dry_run:
        say(
            "  schema: a rollback runs no migration; if the newer version migrated the database, the old code "
            "now runs on that schema (restore its pre-deploy backup if it cannot: ./inv db.backups --env prod)"
        )


@task(help={"tag": TAG_HELP, "wait_timeout": WAIT_HELP, "dry_run": DRY_RUN_HELP})
def up(c: Context, tag: str = "", wait_timeout: int = 300, dry_run: bool = False) -> None:
    """Start the prod stack from already built images (the deployed tag) and wait until healthy."""
    execute([PREFLIGHT, start_step(tag or deploys.current_tag(PROD.project), wait_timeout)], dry_run)


@task(
    help={
        "volumes": "Also delete the data volumes (the production database!); asks first (default: off).",
        "yes": "Do not ask for confirmation before deleting data (default: off).",
        "dry_run": DRY_RUN_HELP,
    }
)
def down(c: Context, volumes: bool = False, yes: bool = False, dry_run: bool = False) -> None:
    """Stop the prod stack; data volumes are kept unless --volumes."""
    if volumes and not dry_run:
        confirm(f"This deletes the PRODUCTION database and Redis volumes of project '{PROD.project}'.", yes)
    execute(compose.plan_down(PROD, volumes), dry_run)


@task(iterable=["service"], help=compose.LOGS_HELP)
def logs(
    c: Context, service: list[str] | None = None, follow: bool = True, tail: int = 200, dry_run: bool = False
) -> None:
    """Show the prod stack's logs."""
    execute(compose.plan_logs(PROD, service or [], follow, tail), dry_run)


@task(help={"dry_run": DRY_RUN_HELP})
def ps(c: Context, dry_run: bool = False) -> None:
    """List the prod stack's containers with their health."""
    execute(compose.plan_ps(PROD), dry_run)


@task(help={"dry_run": DRY_RUN_HELP})
def createsuperuser(c: Context, dry_run: bool = False) -> None:
    """Create a Django admin user in the running prod stack (asks for email and password)."""
    if not dry_run:
        PROD.require_running("web", "prod.createsuperuser")
    execute([compose.one_off(PROD, "web", ["python", "manage.py", "createsuperuser"], running=True)], dry_run)


@task(name="manage", help=compose.MANAGE_HELP)
def manage_command(c: Context, command: str, dry_run: bool = False) -> None:
    """Run any Django management command in the running prod web container."""
    execute([compose.manage_step(PROD, compose.manage_words(PROD, command), dry_run)], dry_run)


@task(help=compose.SHELL_HELP)
def shell(c: Context, command: str = "", dry_run: bool = False) -> None:
    """Open a Django shell in the running prod stack (or run --command; piped input works too)."""
    execute([compose.manage_step(PROD, compose.shell_command(command), dry_run)], dry_run)


@task(
    name="demo-data",
    help={
        "yes": "Do not ask first (default: off; required without a terminal).",
        "dry_run": DRY_RUN_HELP,
    },
)
def demo_data(c: Context, yes: bool = False, dry_run: bool = False) -> None:
    """Load the demo catalogue and demo user into a staging or trial prod stack (only into an empty catalogue)."""
    if not dry_run:
        confirm(
            f"This adds demo products and a demo user with a published password to '{PROD.project}': "
            "for a staging or trial stack only.",
            yes,
        )
    execute([compose.manage_step(PROD, ["load_demo_data", "--if-empty"], dry_run)], dry_run)
