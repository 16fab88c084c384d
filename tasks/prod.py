"""Production stack: build, check, deploy and operate."""

from __future__ import annotations

from contextlib import nullcontext

from invoke import Context
from invoke.exceptions import Exit

from .lib import checks, compose, deploys, lock, rollout
from .lib.cli import task
from .lib.db import backups, database
from .lib.monitoring import status as monitoring_status
from .lib.monitoring import switch as monitoring
from .lib.prodplans import (
    LOG,
    PREFLIGHT,
    PROD,
    SMOKE,
    compose_step,
    django_check_step,
    plan_build,
    plan_deploy,
    start_step,
)
from .lib.run import DRY_RUN_HELP, ROOT, Step, confirm, execute, output, say

TAG_HELP = "Image tag to use (default: the deployed tag, or the checkout's git revision before the first deploy)."
BUILD_TAG_HELP = "Image tag to build and deploy (default: the checkout's git revision)."
BUILD_ONLY_TAG_HELP = "Image tag to build the prod images as (default: the checkout's git revision)."
CHECK_TAG_HELP = "Image tag of the built prod images to check (default: the checkout's git revision, as prod.build)."
WAIT_HELP = "Seconds to wait for every service to be healthy (default: 300)."


@task(help={"tag": BUILD_ONLY_TAG_HELP, "dry_run": DRY_RUN_HELP})
def build(c: Context, tag: str = "", dry_run: bool = False) -> None:
    """Build the prod images, tagged with --tag (default: the git revision); prod.deploy builds them too."""
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


@task(help={"tag": CHECK_TAG_HELP, "dry_run": DRY_RUN_HELP})
def check(c: Context, tag: str = "", dry_run: bool = False) -> None:
    """Security checks: check --deploy, Dockerfiles, compose, image secrets; TLS and more on a running stack."""
    tag = tag or deploys.git_revision()
    live = checks.plan_live_checks(PROD) if PROD.is_running("proxy") else []
    execute([django_check_step(tag), *checks.plan_check(tag), *live], dry_run)
    if not live:
        say("  The live checks (TLS, secrets in docker inspect, the database role) need a running stack: prod.deploy")


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


@task(help={"dry_run": DRY_RUN_HELP})
def reload_tls(c: Context, dry_run: bool = False) -> None:
    """Load a renewed certificate from TLS_DIR into the running proxy: test the config, then reload (no downtime)."""
    if not dry_run:
        PROD.require_running("proxy", "prod.reload-tls")
    plan = [
        Step("test nginx's config with the new files", PROD.exec("proxy", "nginx", "-t", "-q")),
        Step("reload nginx: new connections get the new certificate", PROD.exec("proxy", "nginx", "-s", "reload")),
    ]
    execute(plan, dry_run)


@task(help={"tag": TAG_HELP, "wait_timeout": WAIT_HELP, "dry_run": DRY_RUN_HELP})
def up(c: Context, tag: str = "", wait_timeout: int = 300, dry_run: bool = False) -> None:
    """Start the prod stack from already built images (the deployed tag) and wait until healthy."""
    lock.recover(PROD, "prod.up", dry_run)
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
    lock.recover(PROD, "prod.ps", dry_run)
    execute(compose.plan_ps(PROD), dry_run)


@task
def status(c: Context) -> None:
    """The prod stack on one screen: services, deploy, readiness, traffic, queue, backups, disk, certificate, alerts."""
    say(monitoring_status.report(PROD))


@task
def monitor(c: Context) -> None:
    """Where the monitoring UIs are (Prometheus, Alertmanager, Flower): loopback URLs, and the SSH tunnel to them."""
    if not monitoring.enabled():
        raise Exit(
            f"✗ monitoring is off: set {monitoring.SWITCH}=on in {PROD.env_file.name}, then ./inv prod.up "
            "(docs/operations.md: monitoring).",
            code=2,
        )
    if not PROD.is_running("prometheus"):
        raise Exit("✗ monitoring is on, but Prometheus is not running: ./inv prod.up starts it.", code=1)
    for name, url in monitoring.ui_urls().items():
        say(f"  {name}: {url}")
    say(f"  {monitoring.login_hint()}")
    say(f"  Published on the Docker host's loopback only. From your machine: {monitoring.tunnel_command()}")
    say("  then open the same URLs there.")


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
