"""Development stack: up, down, logs, shells (Docker, or native without it)."""

from __future__ import annotations

import shlex

from invoke import Context
from invoke.exceptions import Exit

from .lib import stack as _stack
from .lib.cli import task
from .lib.compose import LOGS_HELP, NATIVE_ENV, manage_step, one_off, plan_down, plan_logs, plan_ps
from .lib.run import DRY_RUN_HELP, Step, confirm, execute, say
from .lib.stack import APP_SERVICES, manage

DEV = _stack.stack("dev")


def native_notice(problem: str) -> str:
    return (
        f"Docker is not available ({problem}).\n"
        "Starting the native embedded stack instead: SQLite in var/db.sqlite3, the in-memory cache,\n"
        "and Celery tasks run eagerly in the web process. The full stack (PostgreSQL, Redis,\n"
        "Celery worker and beat) needs Docker Engine with the compose v2 plugin; install them and\n"
        "run ./inv dev.up again."
    )


def plan_native_up(host: str, port: int) -> list[Step]:
    return [
        Step(
            "create .env if missing",
            "copy .env.example to .env with a fresh SECRET_KEY",
            action=_stack.create_env_file,
        ),
        Step("apply migrations", manage("migrate", "--noinput"), env=NATIVE_ENV),
        Step("load demo data if the catalogue is empty", manage("load_demo_data", "--if-empty"), env=NATIVE_ENV),
        Step(
            f"serve the API on http://{host}:{port}/api/v1/ (Ctrl-C stops)",
            manage("runserver", f"{host}:{port}"),
            env=NATIVE_ENV,
            interactive=True,
        ),
    ]


def plan_docker_up(wait_timeout: int, profiles: list[str]) -> list[Step]:
    # Always --build: with the layer cache it costs under a second when nothing
    # changed, and it never starts a stale image after a Dockerfile change.
    up = ["up", "--build", "--detach", "--wait", "--wait-timeout", str(wait_timeout), "--remove-orphans"]
    profile_args = [arg for p in profiles for arg in ("--profile", p)]
    return [
        Step(
            "create .env if missing",
            "copy .env.example to .env with a fresh SECRET_KEY",
            action=_stack.create_env_file,
        ),
        Step("check host ports are free", "fail early, naming any port in use", action=lambda: _stack.check_ports(DEV)),
        Step(
            "build if needed, start every service and wait until healthy",
            DEV.compose(*profile_args, *up),
            hint=DEV.start_hint(),
        ),
        Step(
            "load demo data if the catalogue is empty",
            DEV.compose("exec", "-T", "web", "python", "manage.py", "load_demo_data", "--if-empty"),
        ),
        Step("print the URLs", "where to find the API", action=lambda: say(_stack.urls(DEV))),
    ]


def use_docker(native: bool, docker: bool) -> bool:
    """Docker unless --native, or unless it is missing and --docker was not forced."""
    if native and docker:
        raise Exit("Choose one of --native and --docker.", code=2)
    if native:
        return False
    problem = _stack.docker_problem()
    if problem is None:
        return True
    if docker:
        raise Exit(f"✗ --docker was given but {problem}. Start the engine (or install Docker), then retry.", code=1)
    say(native_notice(problem))
    return False


@task(
    help={
        "native": "Force the native embedded stack even when Docker is present (default: off).",
        "docker": "Force the Docker stack; fail if Docker is unusable (default: off, auto-detect).",
        "flower": "Also start Flower, the Celery dashboard, on FLOWER_PORT (default: off).",
        "port": "Native mode: port for the dev server (default: 8000). Docker mode uses WEB_PORT from .env.",
        "wait_timeout": "Docker mode: seconds to wait for every service to be healthy (default: 300).",
        "dry_run": DRY_RUN_HELP,
    }
)
def up(
    c: Context,
    native: bool = False,
    docker: bool = False,
    flower: bool = False,
    port: int = 8000,
    wait_timeout: int = 300,
    dry_run: bool = False,
) -> None:
    """Start the development stack: Docker when available, else the native embedded stack."""
    if use_docker(native, docker):
        execute(plan_docker_up(wait_timeout, ["flower"] if flower else []), dry_run)
    else:
        execute(plan_native_up("127.0.0.1", port), dry_run)


@task(
    help={
        "volumes": "Also delete the data volumes (database, Redis); asks first (default: off).",
        "yes": "Do not ask for confirmation before deleting data (default: off).",
        "dry_run": DRY_RUN_HELP,
    }
)
def down(c: Context, volumes: bool = False, yes: bool = False, dry_run: bool = False) -> None:
    """Stop the Docker dev stack; data volumes are kept unless --volumes."""
    if volumes and not dry_run:
        confirm(f"This deletes every data volume of compose project '{DEV.project}' (the dev database and Redis).", yes)
    execute(plan_down(DEV, volumes), dry_run)


@task(
    iterable=["service"],
    help={
        "service": "Service to restart; repeat for several (default: web, worker and beat).",
        "dry_run": DRY_RUN_HELP,
    },
)
def restart(c: Context, service: list[str] | None = None, dry_run: bool = False) -> None:
    """Restart services of the Docker dev stack."""
    execute([Step("restart", DEV.compose("restart", *(service or APP_SERVICES)))], dry_run)


@task(iterable=["service"], help=LOGS_HELP)
def logs(
    c: Context, service: list[str] | None = None, follow: bool = True, tail: int = 200, dry_run: bool = False
) -> None:
    """Show the dev stack's logs."""
    execute(plan_logs(DEV, service or [], follow, tail), dry_run)


@task(help={"dry_run": DRY_RUN_HELP})
def ps(c: Context, dry_run: bool = False) -> None:
    """List the dev stack's containers with their health."""
    execute(plan_ps(DEV), dry_run)


@task(help={"dry_run": DRY_RUN_HELP})
def build(c: Context, dry_run: bool = False) -> None:
    """Build the dev image."""
    execute([Step("build images", DEV.compose("build"))], dry_run)


@task(
    name="manage",
    help={
        "command": 'The management command and its arguments, quoted as one string, e.g. "showmigrations orders".',
        "dry_run": DRY_RUN_HELP,
    },
)
def manage_command(c: Context, command: str, dry_run: bool = False) -> None:
    """Run any Django management command (in the web container, or natively without Docker)."""
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise Exit(f"✗ --command {command!r} cannot be split into words ({exc}); check its quotes.", code=2) from None
    if not words:
        raise Exit('✗ name a management command, e.g. ./inv dev.manage "showmigrations".', code=2)
    execute([manage_step(DEV, words)], dry_run)


@task(
    help={
        "command": "Python to run instead of opening the interactive shell (default: none, interactive).",
        "dry_run": DRY_RUN_HELP,
    }
)
def shell(c: Context, command: str = "", dry_run: bool = False) -> None:
    """Open a Django shell (or run --command in it)."""
    execute([manage_step(DEV, ["shell", *(["--command", command] if command else [])])], dry_run)


@task(
    help={
        "service": "Service to open the shell in (default: web).",
        "dry_run": DRY_RUN_HELP,
    }
)
def bash(c: Context, service: str = "web", dry_run: bool = False) -> None:
    """Open a bash shell inside a dev container."""
    execute([one_off(DEV, service, ["bash"], running=not dry_run and DEV.is_running(service))], dry_run)
