"""Production stack: build, check, deploy and operate."""

from __future__ import annotations

import urllib.error
import urllib.request
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path

from invoke import Context, task
from invoke.exceptions import Exit

from . import _rollout, _scan, _stack, db, dev, lint
from ._plan import DRY_RUN_HELP, Step, confirm, execute, say, shell

PROD = _stack.stack("prod")
# Variables prod cannot start without (compose stops on them too, less readably).
REQUIRED = ("SECRET_KEY", "ALLOWED_HOSTS", "POSTGRES_PASSWORD", "REDIS_PASSWORD", "EMAIL_URL")
SECRETS = ("SECRET_KEY", "POSTGRES_PASSWORD", "REDIS_PASSWORD", "FLOWER_PASSWORD", "EMAIL_URL")
IMAGES = ("desideliver-django", "desideliver-proxy", "desideliver-backup")
CHECK_DIR = _stack.ROOT / "var" / "check"
TAG_HELP = "Image tag to use (default: the checkout's git revision)."
START_HELP = {
    "tag": TAG_HELP,
    "wait_timeout": "Seconds to wait for every service to be healthy (default: 300).",
    "dry_run": DRY_RUN_HELP,
}


def compose_step(name: str, tag: str, *args: str, interactive: bool = False, hint: str = "") -> Step:
    """A prod compose command with IMAGE_TAG set, so every service uses the same images."""
    return Step(name, PROD.compose(*args), env={"IMAGE_TAG": tag}, interactive=interactive, hint=hint)


def preflight() -> None:
    """Fail before touching anything when the env file lacks what prod needs."""
    env_file = _stack.env_file()
    if not env_file.exists():
        raise Exit(
            f"✗ {env_file} does not exist. Create it from .env.example and set production values "
            f"for {', '.join(REQUIRED)}.",
            code=2,
        )
    missing = [name for name in REQUIRED if not _stack.setting(name)]
    if missing:
        raise Exit(f"✗ {env_file.name} lacks {', '.join(missing)}; set them (see .env.example) and retry.", code=2)
    if problem := _stack.docker_problem():
        raise Exit(f"✗ cannot deploy: {problem}.", code=1)
    # Created by us, not by the engine (which would make it root's).
    _stack.backups_dir().mkdir(parents=True, exist_ok=True)


def base_url() -> str:
    return f"http://127.0.0.1:{_stack.setting('HTTP_PORT', '8080')}"


def proxy_headers() -> dict[str, str]:
    """What an HTTPS client of the first allowed host sends, as the TLS terminator forwards it."""
    host = _stack.app_module("healthcheck").probe_host(_stack.setting("ALLOWED_HOSTS"))
    return {"Host": host, "X-Forwarded-Proto": "https"}


def smoke_test(paths: tuple[str, ...] = ("/api/v1/health/ready/", "/api/v1/products/")) -> None:
    """GET each path through the proxy as an HTTPS client of the first allowed host would."""
    headers = proxy_headers()
    for path in paths:
        request = urllib.request.Request(base_url() + path, headers=headers)  # noqa: S310 - local http URL
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


def plan_build(tag: str) -> list[Step]:
    return [compose_step(f"build the prod images as :{tag}", tag, "build")]


def plan_check(tag: str) -> list[Step]:
    merged = {env: CHECK_DIR / f"{env}-config.json" for env in _stack.ENVIRONMENTS}
    steps = [
        compose_step(
            "Django check --deploy in the prod image",
            tag,
            "run",
            "--rm",
            "--no-deps",
            "-T",
            "-e",
            "WAIT_FOR_DB=false",
            "web",
            "python",
            "manage.py",
            "check",
            "--deploy",
            "--fail-level",
            "WARNING",
        ),
        lint.plan_lint(fix=False)[-1],
        Step("prepare a scratch directory", f"mkdir -p {shell(CHECK_DIR)}"),
    ]
    for env, path in merged.items():
        s = _stack.stack(env)
        steps += [
            Step(f"compose config -q ({env})", s.compose("config", "-q"), env={"IMAGE_TAG": tag}),
            Step(
                f"render the merged {env} config",
                f"{s.compose('config', '--format', 'json')} > {shell(path)}",
                env={"IMAGE_TAG": tag},
            ),
            Step(
                f"validate the merged {env} config against the compose spec",
                f"{_stack.tool('check-jsonschema')} --builtin-schema vendor.compose-spec {shell(path)}",
            ),
        ]
    lint_input = CHECK_DIR / "prod-config.yaml"
    steps += [
        # Not interpolated, so the linter sees ${VAR} references where secrets go.
        Step(
            "render the merged prod config without interpolation",
            f"{PROD.compose('config', '--no-interpolate')} > {shell(lint_input)}",
        ),
        Step(
            "compose-lint the merged prod config",
            f"{_stack.tool('compose-lint')} check --no-env --fail-on medium --strict-config "
            f"--config compose/prod/compose-lint.yml {shell(lint_input)}",
        ),
        Step(
            "scan the prod images for env files, private keys and secret values",
            "scan images",
            action=lambda: scan_images(tag),
        ),
    ]
    return steps


def scan_images(tag: str) -> None:
    secrets = _scan.secret_values(_stack.env_values(), SECRETS)
    found = [f"{image}:{tag}: {f}" for image in IMAGES for f in _scan.scan_image(f"{image}:{tag}", secrets)]
    if found:
        raise Exit("✗ secrets found in the images:\n  " + "\n  ".join(found), code=1)
    say(f"✓ no env files, private keys or secret values in {', '.join(f'{i}:{tag}' for i in IMAGES)}")


PREFLIGHT = Step("preflight: env file, required variables, engine", "check prerequisites", action=preflight)


def start_step(tag: str, wait_timeout: int) -> Step:
    up = ["up", "--detach", "--wait", "--wait-timeout", str(wait_timeout), "--remove-orphans"]
    return compose_step(
        "start the stack and wait until every service is healthy", tag, *up, hint=_stack.start_hint(PROD)
    )


SMOKE = Step("smoke-test through the proxy", "GET health/ready and products", action=smoke_test)


def plan_deploy(tag: str, wait_timeout: int, running: bool, backup: Path | None) -> tuple[list[Step], list[Step]]:
    """Two plans: `prepare` changes nothing live; a failure in `switch` is rolled back."""
    prepare = [
        PREFLIGHT,
        compose_step("validate the compose config", tag, "config", "-q"),
        *plan_build(tag),
        plan_check(tag)[0],
        *[
            Step(f"pre-deploy backup: {step.name}", step.command, action=step.action)
            for step in (db.plan_backup(PROD, backup) if backup else [])
        ],
    ]
    switch = [
        # From the new image, before any new code runs, in one transaction.
        compose_step("apply migrations (all or none) from the new image", tag, "run", "--rm", "-T", "migrate"),
        Step(
            "roll out: new web beside the old, then worker, beat, backup, proxy",
            f"rollout :{tag}",
            action=lambda: _rollout.rollout(tag, wait_timeout),
        )
        if running
        else start_step(tag, wait_timeout),
        SMOKE,
        Step("record the deployed image tag", f"{tag} in var/deploy/", action=lambda: _stack.record_deploy(PROD, tag)),
        Step("print the URLs", "where to find the API", action=lambda: say(_stack.urls(PROD))),
    ]
    return prepare, switch


def plan_rollback(tag: str, wait_timeout: int) -> list[Step]:
    return [Step(f"roll back to :{tag}", f"rollout :{tag}", action=lambda: _rollout.rollout(tag, wait_timeout)), SMOKE]


@task(help={"tag": TAG_HELP, "dry_run": DRY_RUN_HELP})
def build(c: Context, tag: str = "", dry_run: bool = False) -> None:
    """Build the prod images, tagged with the git revision."""
    execute(c, plan_build(tag or _stack.git_revision()), dry_run)


@task(help={"dry_run": DRY_RUN_HELP})
def config(c: Context, dry_run: bool = False) -> None:
    """Print the merged prod compose config that would run."""
    execute(c, [compose_step("render the merged config", _stack.git_revision(), "config")], dry_run)


@task(help={"tag": TAG_HELP, "dry_run": DRY_RUN_HELP})
def check(c: Context, tag: str = "", dry_run: bool = False) -> None:
    """Security checks: check --deploy in the image, hadolint, compose validation and lint, secret scan."""
    execute(c, plan_check(tag or _stack.git_revision()), dry_run)


@task(help=START_HELP)
def deploy(c: Context, tag: str = "", wait_timeout: int = 300, dry_run: bool = False) -> None:
    """Deploy: build, check, back up, migrate, roll out without a gap, smoke-test; roll back on failure."""
    tag = tag or _stack.git_revision()
    previous = _stack.deployed(PROD).get("current", "")
    running = not dry_run and _stack.is_running(PROD, "web")
    backup = _stack.backups_dir() / db.backup_name(PROD, datetime.now(UTC), "pre-deploy") if running else None
    prepare, switch = plan_deploy(tag, wait_timeout, running, backup)
    execute(c, prepare, dry_run)
    probe = base_url() + "/api/v1/health/"
    watch = _rollout.watching(probe, proxy_headers()) if running else nullcontext(_rollout.Availability())
    with watch as availability:
        try:
            execute(c, switch, dry_run)
        except Exit as failure:
            if dry_run or not (running and previous):
                raise
            say(f"✗ deploying :{tag} failed; rolling back to :{previous}")
            execute(c, plan_rollback(previous, wait_timeout))
            raise Exit(
                f"✗ deploy of :{tag} failed and was rolled back; :{previous} is serving.\n"
                f"  failure: {failure.message}\n"
                f"  pre-deploy backup: {backup}\n"
                f"  {availability.report()}",
                code=failure.code or 1,
            ) from None
    if running:
        say(availability.report())


@task(
    help={
        "wait_timeout": "Seconds to wait for every service to be healthy (default: 300).",
        "dry_run": DRY_RUN_HELP,
    }
)
def rollback(c: Context, wait_timeout: int = 300, dry_run: bool = False) -> None:
    """Redeploy the image tag that was in service before the last deploy (no build, no migrations)."""
    previous = _stack.deployed(PROD).get("previous")
    if not previous:
        raise Exit(f"✗ no previous deploy is recorded for {PROD.project}; nothing to roll back to.", code=2)
    execute(
        c,
        [
            PREFLIGHT,
            *plan_rollback(previous, wait_timeout),
            Step(
                "record the rollback", f"{previous} in var/deploy/", action=lambda: _stack.record_deploy(PROD, previous)
            ),
        ],
        dry_run,
    )


@task(help=START_HELP)
def up(c: Context, tag: str = "", wait_timeout: int = 300, dry_run: bool = False) -> None:
    """Start the prod stack from already built images and wait until healthy."""
    execute(c, [PREFLIGHT, start_step(tag or _stack.git_revision(), wait_timeout)], dry_run)


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
    execute(c, dev.plan_down(PROD, volumes), dry_run)


@task(iterable=["service"], help=dev.LOGS_HELP)
def logs(
    c: Context, service: list[str] | None = None, follow: bool = True, tail: int = 200, dry_run: bool = False
) -> None:
    """Show the prod stack's logs."""
    execute(c, dev.plan_logs(PROD, service or [], follow, tail), dry_run)


@task(help={"dry_run": DRY_RUN_HELP})
def ps(c: Context, dry_run: bool = False) -> None:
    """List the prod stack's containers with their health."""
    execute(c, [Step("status", PROD.compose("ps", "--all"))], dry_run)


@task(help={"dry_run": DRY_RUN_HELP})
def createsuperuser(c: Context, dry_run: bool = False) -> None:
    """Create a Django admin user in the running prod stack (asks for email and password)."""
    execute(
        c,
        [
            Step(
                "createsuperuser",
                PROD.compose("exec", "web", "python", "manage.py", "createsuperuser"),
                interactive=True,
            )
        ],
        dry_run,
    )
