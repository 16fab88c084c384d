"""Development stack: up, down, logs, shells, its URLs again (Docker, or native without it)."""

from __future__ import annotations

import webbrowser

from invoke import Context
from invoke.exceptions import Exit

from .lib import lock
from .lib import native as native_server
from .lib import stack as _stack
from .lib.cli import task
from .lib.compose import (
    LOGS_HELP,
    MANAGE_HELP,
    NATIVE_ENV,
    SHELL_HELP,
    check_ports,
    dev_base,
    diagnose,
    manage_step,
    manage_words,
    one_off,
    plan_down,
    plan_logs,
    plan_ps,
    shell_command,
    summary,
)
from .lib.run import DRY_RUN_HELP, LOG_DIR, ROOT, Step, confirm, execute, say
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


LOG = LOG_DIR / "dev.up.log"


def create_env_step() -> Step:
    return Step(
        "create .env if missing", "copy .env.example to .env with a fresh SECRET_KEY",
        action=lambda: _stack.create_env_file("dev"),
    )  # fmt: skip


def plan_native_up(host: str, port: int) -> list[Step]:
    base = f"http://{host}:{port}"
    return [
        create_env_step(),
        Step("apply migrations", manage("migrate", "--noinput"), env=NATIVE_ENV),
        Step("load demo data if the catalogue is empty", manage("load_demo_data", "--if-empty"), env=NATIVE_ENV),
        Step("print the URLs", "where to find the API", action=lambda: say(summary(DEV, base=base))),
        Step(
            f"serve the API on {base}/api/v1/ (Ctrl-C stops)",
            manage("runserver", f"{host}:{port}"),
            env=NATIVE_ENV,
            interactive=True,
            server=True,
        ),
    ]


def flower_line() -> str:
    port, user = DEV.setting("FLOWER_PORT", "5555"), DEV.setting("FLOWER_USER", "admin")
    return f"  Flower:  http://localhost:{port}/  (login {user} / {DEV.setting('FLOWER_PASSWORD')})"


def running_stack() -> tuple[str, tuple[str, ...]]:
    """The base URL of whichever dev stack runs now (Docker, else the native server) and the lines only it
    shows; an Exit naming how to start one when none runs."""
    running = DEV.running_services() if _stack.docker_problem() is None else set()
    if "web" in running:
        return dev_base(DEV), (flower_line(),) if "flower" in running else ()
    if (port := native_server.running_port()) is not None:
        return f"http://localhost:{port}", ("  Served: natively (./inv dev.up --native)",)
    raise Exit(
        "✗ No dev stack is running (neither the Docker stack nor ./inv dev.up --native): "
        "start one with ./inv dev.up, then run this again.",
        code=1,
    )


def description() -> str:
    """What dev.up printed last, for the dev stack that runs now."""
    base, extra = running_stack()
    return summary(DEV, base=base, extra=extra)


def open_api_root() -> None:
    url = f"{running_stack()[0]}/api/v1/"
    try:
        browser = webbrowser.get()
    except webbrowser.Error:
        say(f"No web browser found here (set BROWSER to one's command); the API is at {url}")
        return
    if not browser.open(url):
        raise Exit(f"✗ The browser ({getattr(browser, 'name', browser)}) did not open {url}; open it by hand.", code=1)
    say(f"Opened {url}")


def plan_docker_up(wait_timeout: int, profiles: list[str]) -> list[Step]:
    # One build of the one dev image (every Django service runs it), then start
    # without building: compose would otherwise build it once per service.
    up = ["up", "--no-build", "--detach", "--wait", "--wait-timeout", str(wait_timeout), "--remove-orphans"]
    profile_args = [arg for p in profiles for arg in ("--profile", p)]
    extra = (flower_line(),) if "flower" in profiles else ()
    return [
        create_env_step(),
        Step("check host ports are free", "fail early, naming any port in use", action=lambda: check_ports(DEV)),
        Step("build the dev image (unchanged: a second)", DEV.compose("build", "web"), quiet=True),
        Step(
            "start every service and wait until healthy",
            DEV.compose(*profile_args, *up),
            hint=DEV.start_hint(),
            quiet=True,
            diagnose=lambda: diagnose(DEV),
        ),
        Step(
            "load demo data if the catalogue is empty",
            DEV.exec("web", "python", "manage.py", "load_demo_data", "--if-empty"),
            quiet=True,
        ),
        Step("print the URLs", "where to find the API", action=lambda: say(summary(DEV, extra=extra))),
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
        "port": "Native mode: port for the dev server (default: WEB_PORT from .env, as the Docker stack uses).",
        "wait_timeout": "Docker mode: seconds to wait for every service to be healthy (default: 300).",
        "dry_run": DRY_RUN_HELP,
    }
)
def up(
    c: Context,
    native: bool = False,
    docker: bool = False,
    flower: bool = False,
    port: int = 0,
    wait_timeout: int = 300,
    dry_run: bool = False,
) -> None:
    """Start the development stack: Docker when available, else the native embedded stack."""
    if use_docker(native, docker):
        if port:
            web_port = _stack.whole_number_setting("dev", "WEB_PORT", 8000, low=1)
            say(f"Note: --port is the native stack's; the Docker stack serves on WEB_PORT ({web_port}) from "
                f"{_stack.env_file('dev').name}: set it there to change it. Going on with {web_port}.")  # fmt: skip
        lock.recover(DEV, "dev.up", dry_run)
        if not dry_run:
            say(f"Starting the dev stack; full output goes to {LOG.relative_to(ROOT)}.")
        execute(plan_docker_up(wait_timeout, ["flower"] if flower else []), dry_run, log=LOG)
    else:
        if flower:
            say("Note: --flower is ignored by the native stack: Celery runs each task at once in the web "
                "process there, so there is no worker for Flower to watch (the Docker stack has one).")  # fmt: skip
        port = port or _stack.whole_number_setting("dev", "WEB_PORT", 8000, low=1)
        if dry_run:
            execute(plan_native_up("127.0.0.1", port), dry_run)
            return
        with native_server.serving(port):
            execute(plan_native_up("127.0.0.1", port))


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


@task
def describe(c: Context) -> None:
    """Print the running dev stack's URLs, demo login and next steps again (what dev.up printed)."""
    say(description())


@task(name="open")
def open_(c: Context) -> None:
    """Open the running dev stack's API root in a web browser (where there is none: print its URL)."""
    open_api_root()


@task(help={"dry_run": DRY_RUN_HELP})
def ps(c: Context, dry_run: bool = False) -> None:
    """List the dev stack's containers with their health."""
    lock.recover(DEV, "dev.ps", dry_run)
    execute(plan_ps(DEV), dry_run)


@task(help={"dry_run": DRY_RUN_HELP})
def build(c: Context, dry_run: bool = False) -> None:
    """Build the dev image."""
    execute([Step("build the dev image", DEV.compose("build", "web"))], dry_run)


@task(name="manage", help=MANAGE_HELP)
def manage_command(c: Context, command: str, dry_run: bool = False) -> None:
    """Run any Django management command (in the web container, or natively without Docker)."""
    execute([manage_step(DEV, manage_words(DEV, command), dry_run)], dry_run)


@task(help=SHELL_HELP)
def shell(c: Context, command: str = "", dry_run: bool = False) -> None:
    """Open a Django shell (or run --command in it; piped input works too)."""
    execute([manage_step(DEV, shell_command(command), dry_run)], dry_run)


@task(help={"dry_run": DRY_RUN_HELP})
def attach(c: Context, dry_run: bool = False) -> None:
    """Attach to the dev web server: the pdb prompt of a breakpoint() (detach: Ctrl-P Ctrl-Q)."""
    if not dry_run:
        DEV.require_running("web", "dev.attach")
    execute([Step("attach to web", DEV.compose("attach", "--sig-proxy=false", "web"), interactive=True)], dry_run)


@task(
    help={
        "service": "Service to open the shell in (default: web).",
        "dry_run": DRY_RUN_HELP,
    }
)
def bash(c: Context, service: str = "web", dry_run: bool = False) -> None:
    """Open a bash shell inside a dev container."""
    execute([one_off(DEV, service, ["bash"], running=not dry_run and DEV.is_running(service))], dry_run)
