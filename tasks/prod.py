"""Production stack: build, check, deploy and operate."""

from __future__ import annotations

import urllib.error
import urllib.request
from contextlib import nullcontext

from invoke import Context
from invoke.exceptions import Exit

from .lib import backups, checks, database, deploys, lock, rollout
from .lib.cli import task
from .lib.compose import LOGS_HELP, one_off, plan_down, plan_logs, plan_ps
from .lib.run import DRY_RUN_HELP, Step, confirm, execute, say
from .lib.stack import app_module, docker_problem, env_file, setting, stack, urls

PROD = stack("prod")
# Variables prod cannot start without (compose stops on them too, less readably).
REQUIRED = ("SECRET_KEY", "ALLOWED_HOSTS", "POSTGRES_PASSWORD", "REDIS_PASSWORD", "EMAIL_URL")
TAG_HELP = "Image tag to use (default: the deployed tag, or the checkout's git revision before the first deploy)."
BUILD_TAG_HELP = "Image tag to build and deploy (default: the checkout's git revision)."
WAIT_HELP = "Seconds to wait for every service to be healthy (default: 300)."


def compose_step(name: str, tag: str, *args: str, hint: str = "") -> Step:
    """A prod compose command with IMAGE_TAG set, so every service uses the same images."""
    return Step(name, PROD.compose(*args), env={"IMAGE_TAG": tag}, hint=hint)


def preflight() -> None:
    """Fail before touching anything when the env file lacks what prod needs."""
    if not env_file().exists():
        raise Exit(
            f"✗ {env_file()} does not exist. Create it from .env.example and set production values "
            f"for {', '.join(REQUIRED)}.",
            code=2,
        )
    missing = [name for name in REQUIRED if not setting(name)]
    if missing:
        raise Exit(f"✗ {env_file().name} lacks {', '.join(missing)}; set them (see .env.example) and retry.", code=2)
    if problem := docker_problem():
        raise Exit(f"✗ cannot deploy: {problem}.", code=1)
    # Created by us, 0700, not by the engine (which would make it root's).
    backups.prepare_dir()


PREFLIGHT = Step(
    "preflight: env file, required variables, engine, backups directory",
    f"check {', '.join(REQUIRED)} are set; docker info; the backups directory is writable",
    action=preflight,
)


def base_url() -> str:
    return f"http://127.0.0.1:{setting('HTTP_PORT', '8080')}"


def proxy_headers() -> dict[str, str]:
    """What an HTTPS client of the first allowed host sends, as the TLS terminator forwards it."""
    return {"Host": app_module("healthcheck").probe_host(setting("ALLOWED_HOSTS")), "X-Forwarded-Proto": "https"}


def smoke_test(paths: tuple[str, ...] = ("/api/v1/health/ready/", "/api/v1/products/")) -> None:
    """GET each path through the proxy as an HTTPS client of the first allowed host would."""
    for path in paths:
        request = urllib.request.Request(base_url() + path, headers=proxy_headers())  # noqa: S310 - local http URL
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - local http URL
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (urllib.error.URLError, OSError) as exc:
            raise Exit(f"✗ smoke test: GET {path} through the proxy failed: {exc}", code=1) from None
        if status != 200:
            raise Exit(f"✗ smoke test: GET {path} through the proxy answered {status}; see ./inv prod.logs", code=1)
        say(f"✓ GET {path} through the proxy: {status}")


SMOKE = Step(
    "smoke-test through the proxy", "GET /api/v1/health/ready/ and /api/v1/products/", action=lambda: smoke_test()
)


def plan_build(tag: str) -> list[Step]:
    return [compose_step(f"build the prod images as :{tag}", tag, "build")]


def django_check_step(tag: str) -> Step:
    check = ["python", "manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    return compose_step(
        "Django check --deploy in the prod image", tag, "run", "--rm", "--no-deps", "-T", "-e", "WAIT_FOR_DB=false",
        "web", *check,
    )  # fmt: skip


def start_step(tag: str, wait_timeout: int) -> Step:
    up = ["up", "--detach", "--wait", "--wait-timeout", str(wait_timeout), "--remove-orphans"]
    return compose_step("start the stack and wait until every service is healthy", tag, *up, hint=PROD.start_hint())


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


def schema_note(before: dict[str, str]) -> str:
    """What a rollback leaves behind when migrations already ran: the old code on a newer schema."""
    try:
        after = database.migration_state(PROD)
    except Exit:
        return "  schema: could not be read after the failure; check it with ./inv db.psql --env prod"
    newer = [f"{app}.{name}" for app, name in sorted(after.items()) if before.get(app) != name]
    if not newer:
        return "  schema: unchanged (the failed deploy applied no migration)"
    return (
        f"  schema: NEWER than the code rolled back to ({', '.join(newer)} applied by the failed deploy); "
        "the old code runs on it. If it cannot, restore the pre-deploy backup: ./inv db.restore FILE --env prod"
    )


@task(help={"tag": BUILD_TAG_HELP, "dry_run": DRY_RUN_HELP})
def build(c: Context, tag: str = "", dry_run: bool = False) -> None:
    """Build the prod images, tagged with the git revision."""
    execute(plan_build(tag or deploys.git_revision()), dry_run)


@task(help={"dry_run": DRY_RUN_HELP})
def config(c: Context, dry_run: bool = False) -> None:
    """Print the merged prod compose config that would run."""
    execute([compose_step("render the merged config", deploys.current_tag(PROD.project), "config")], dry_run)


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
        execute(prepare)
        schema = database.migration_state(PROD) if has_data and running else {}
        watch = rollout.watching(base_url(), proxy_headers()) if running else nullcontext()
        with watch as availability:
            try:
                execute(switch)
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
                    f"{schema_note(schema)}\n"
                    f"  {availability.report()}",
                    code=failure.code or 1,
                ) from None
        deploys.record(PROD.project, tag)
        say(urls(PROD))
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
    execute(plan_down(PROD, volumes), dry_run)


@task(iterable=["service"], help=LOGS_HELP)
def logs(
    c: Context, service: list[str] | None = None, follow: bool = True, tail: int = 200, dry_run: bool = False
) -> None:
    """Show the prod stack's logs."""
    execute(plan_logs(PROD, service or [], follow, tail), dry_run)


@task(help={"dry_run": DRY_RUN_HELP})
def ps(c: Context, dry_run: bool = False) -> None:
    """List the prod stack's containers with their health."""
    execute(plan_ps(PROD), dry_run)


@task(help={"dry_run": DRY_RUN_HELP})
def createsuperuser(c: Context, dry_run: bool = False) -> None:
    """Create a Django admin user in the running prod stack (asks for email and password)."""
    if not dry_run:
        PROD.require_running("web", "prod.createsuperuser")
    execute([one_off(PROD, "web", ["python", "manage.py", "createsuperuser"], running=True)], dry_run)
