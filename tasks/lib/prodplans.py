"""The prod stack's plans: preflight, build, check in the image, back up, migrate, start or roll out.

prod.py composes them into its tasks; a deploy is `prepare` (changes nothing
live) then `switch` (rolled back on any failure).
"""

from __future__ import annotations

import re

from invoke.exceptions import Exit

from . import compose, rollout, tls
from .db import backups, database
from .monitoring import switch as monitoring
from .pitr import repository
from .run import LOG_DIR, Step, say
from .stack import (
    SECRET_NAMES,
    create_env_file,
    docker_problem,
    env_example,
    env_values,
    new_secret_key,
    secret,
    secrets_dir,
    stack,
)

PROD = stack("prod")

# Variables prod cannot start without (compose stops on them too, less readably).
REQUIRED = ("ALLOWED_HOSTS",)
# What a secret file starts as when neither it nor .env.prod has a value.
SECRET_DEFAULTS = {"EMAIL_URL": "consolemail://", "ALERT_WEBHOOK_URL": monitoring.WEBHOOK_PLACEHOLDER}
# The off-host repository's SSH key: the operator's to put there (compose mounts the file either way).
OFFSITE_KEY = "offsite_ssh_key"
OFFSITE_KEY_PLACEHOLDER = "# the private key pgBackRest logs in to PITR_OFFSITE with (docs/operations.md)\n"
OFFSITE_URL = re.compile(r"sftp://[A-Za-z0-9._-]+@[A-Za-z0-9.-]+(:[0-9]+)?/\S+")
# db: the database image (desideliver-db:17, a tag of its own) is rebuilt from cache on each deploy.
IMAGE_SERVICES = ("web", "backup", "proxy", "db")
LOG = LOG_DIR / "prod.deploy.log"


def compose_step(name: str, tag: str, *args: str, hint: str = "", quiet: bool = False) -> Step:
    """A prod compose command with IMAGE_TAG set, so every service uses the same images.

    Quiet steps (builds, starts) write their output to the task's log file.
    """
    diagnose = (lambda: compose.diagnose(PROD)) if args[0] == "up" else None
    return Step(name, PROD.compose(*args), env={"IMAGE_TAG": tag}, hint=hint, quiet=quiet, diagnose=diagnose)


# Generated when missing, so published in the repository they must never be live.
GENERATED_SECRETS = tuple(name for name in SECRET_NAMES if name not in SECRET_DEFAULTS)
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def unsafe_settings() -> list[str]:
    """What the prod env file must not keep: example secrets, and console email on a reachable stack."""
    examples = [env_values(env_example(env)) for env in ("dev", "prod")]
    published = {values.get(name) for values in examples for name in GENERATED_SECRETS}
    found = [
        f"{name} is the value published in the example files; set a fresh one (python3 -c 'import secrets; "
        "print(secrets.token_urlsafe(50))')"
        for name in GENERATED_SECRETS
        if secret(name) in published
    ]
    if secret("EMAIL_URL").startswith("consolemail:") and PROD.setting("HTTP_BIND", "127.0.0.1") not in LOOPBACK:
        found.append(
            "EMAIL_URL=consolemail:// only writes mail to the worker's log; customers of a stack bound to "
            f"{PROD.setting('HTTP_BIND')} need real mail: smtp+tls://user:password@host:587"
        )
    return found


def offsite_problem() -> str:
    """What keeps PITR_OFFSITE from working, found before anything starts ("" when unset or fit)."""
    url = PROD.setting("PITR_OFFSITE")
    if not url:
        return ""
    if not OFFSITE_URL.fullmatch(url):
        return f"PITR_OFFSITE={url!r} is not sftp://USER@HOST[:PORT]/ABSOLUTE/PATH"
    if not re.fullmatch(r"[0-9a-f]{64}", PROD.setting("PITR_OFFSITE_FINGERPRINT")):
        return "PITR_OFFSITE_FINGERPRINT must be the SHA-256 of the SFTP server's host key (64 hex digits)"
    if "PRIVATE KEY-----" not in secret(OFFSITE_KEY):
        return f"{secrets_dir() / OFFSITE_KEY} holds no private key; put the one the SFTP server authorizes there"
    return ""


def ensure_secrets() -> None:
    """Each prod secret in its own file in SECRETS_DIR; .env.prod keeps none.

    A value still in .env.prod (an older layout) moves into its file and out of
    .env.prod; a missing one is generated. The directory is 0700, so only its
    owner reaches the files on the host; they are 0644 so that each
    container's own user can read its bind-mounted copy.
    """
    directory = secrets_dir()
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    values = env_values(PROD.env_file)
    moved, made = [], []
    for name in SECRET_NAMES:
        path = directory / name.lower()
        if not path.exists():
            path.write_text((values.get(name) or SECRET_DEFAULTS.get(name) or new_secret_key()) + "\n")
            (moved if values.get(name) else made).append(name)
        path.chmod(0o644)
    if not (key := directory / OFFSITE_KEY).exists():
        key.write_text(OFFSITE_KEY_PLACEHOLDER)
    key.chmod(0o644)  # as the others: the database's user must read its mounted copy, whoever made it
    monitoring.write_exporter_secret(directory, secret("REDIS_PASSWORD"))
    if moved:
        kept = [line for line in PROD.env_file.read_text().splitlines() if line.partition("=")[0] not in SECRET_NAMES]
        PROD.env_file.write_text("\n".join(kept) + "\n")
        say(f"  Moved {', '.join(moved)} from {PROD.env_file.name} into {directory} (one file each).")
    if made:
        say(f"  Made a fresh {', '.join(made)} in {directory} (one file each).")


def preflight() -> None:
    """Fail before touching anything when the env file lacks what prod needs."""
    if create_env_file("prod"):
        say(f"  A local trial as is; review {PROD.env_file.name} before putting the stack on a public address.")
    ensure_secrets()
    missing = [name for name in REQUIRED if not PROD.setting(name)]
    if missing:
        raise Exit(
            f"✗ {PROD.env_file.name} lacks {', '.join(missing)}; set them (see .env.prod.example) and retry.", code=2
        )
    if problem := offsite_problem():
        raise Exit(f"✗ the off-host repository: {problem} (docs/operations.md: the off-host repository).", code=2)
    if problem := monitoring.problem():
        raise Exit(f"✗ {PROD.env_file.name}: {problem} (docs/operations.md: monitoring).", code=2)
    if monitoring.enabled() and secret("ALERT_WEBHOOK_URL") == monitoring.WEBHOOK_PLACEHOLDER:
        say(f"  ! Alerts go nowhere yet: put your webhook's URL in {secrets_dir() / monitoring.WEBHOOK_FILE}.")
    if unsafe := unsafe_settings():
        raise Exit(f"✗ {PROD.env_file.name} is not fit for production:\n  " + "\n  ".join(unsafe), code=2)
    if problem := docker_problem():
        raise Exit(f"✗ cannot deploy: {problem}.", code=1)
    # Created by us, 0700, not by the engine (which would make it root's).
    backups.prepare_dir()
    tls.ensure_certificate()


PREFLIGHT = Step(
    "preflight: env file (created from .env.prod.example if missing), variables, engine, backups, certificate",
    f"check {', '.join(REQUIRED)} are set; docker info; the backups directory is writable; "
    "a certificate in TLS_DIR (self-signed if none)",
    action=preflight,
)


SMOKE = Step(
    "smoke-test through the proxy",
    "GET /api/v1/health/ready/ and /api/v1/products/",
    action=lambda: rollout.smoke_test(PROD),
)


def plan_build(tag: str) -> list[Step]:
    # One service per image: compose builds an image once per service that names it.
    services = (*IMAGE_SERVICES, *monitoring.image_services())
    return [compose_step(f"build the prod images as :{tag}", tag, "build", *services, quiet=True)]


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
    return [*start_db, database.backup_step(PROD, "pre-deploy"), restore_point_step(tag)]


def restore_point_step(tag: str) -> Step:
    """Mark the WAL before anything migrates: db.restore --to before-deploy:TAG returns here.

    The segment is switched so the mark reaches the archive now, not up to PITR_ARCHIVE_TIMEOUT later.
    """
    name = database.literal(f"{repository.RESTORE_POINT}{tag}")
    sql = f"SELECT pg_catalog.pg_create_restore_point({name}); SELECT pg_catalog.pg_switch_wal();"
    return Step(f"mark the point before this deploy ({repository.RESTORE_POINT}{tag})", database.on_postgres(PROD, sql))


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
