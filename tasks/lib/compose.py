"""Plans that dev and prod share: stop, logs, status, and one-off commands in a service."""

from __future__ import annotations

import json
import shlex
import socket

from invoke.exceptions import Exit

from . import native, run
from .run import DRY_RUN_HELP, Step, interactive_terminal, say
from .stack import SETTINGS, START_TASKS, Stack, app_module, docker_problem, manage, whole_number_setting

LOGS_HELP = {
    "service": "Service whose logs to show; repeat for several (default: all).",
    "follow": "Keep following new output (default: on; --no-follow prints and exits).",
    "tail": "Lines of history per service (default: 200).",
    "dry_run": DRY_RUN_HELP,
}


MANAGE_HELP = {
    "command": "The management command and its arguments: ./inv ENV.manage showmigrations orders (no quotes needed).",
    "dry_run": DRY_RUN_HELP,
}
SHELL_HELP = {
    "command": "Python to run instead of opening the interactive shell (default: none, interactive).",
    "dry_run": DRY_RUN_HELP,
}


def manage_words(s: Stack, command: str) -> list[str]:
    """The words of a `manage` task's command line, or one line saying what is wrong with it."""
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise Exit(f"✗ --command {command!r} cannot be split into words ({exc}); check its quotes.", code=2) from None
    if not words:
        raise Exit(f"✗ name a management command, e.g. ./inv {s.env}.manage showmigrations", code=2)
    return words


def shell_command(command: str) -> list[str]:
    return ["shell", *(["--command", command] if command else [])]


def plan_down(s: Stack, volumes: bool) -> list[Step]:
    what = " and DELETE the data volumes" if volumes else " (volumes kept)"
    # Every profile, so optional services (flower, backup) stop too.
    args = ["--profile", "*", "down", "--remove-orphans", *(["--volumes"] * volumes)]
    return [Step("stop and remove containers" + what, s.compose(*args))]


def plan_logs(s: Stack, services: list[str], follow: bool, tail: int) -> list[Step]:
    args = ["logs", "--tail", str(tail), *(["--follow"] * follow), *services]
    return [Step("logs", s.compose(*args), interactive=follow)]


def plan_ps(s: Stack) -> list[Step]:
    """The stack's containers; before its first start, a line saying so (compose fails without the env file)."""
    if s.env_file.exists():
        return [Step("status", s.compose("--profile", "*", "ps", "--all"))]
    news = (
        f"The {s.env} stack is not started yet: ./inv {START_TASKS[s.env]} starts it (and creates {s.env_file.name})."
    )
    return [Step("status", f"{s.env_file.name} does not exist yet", action=lambda: say(news))]


def one_off(s: Stack, service: str, command: list[str], running: bool) -> Step:
    """`command` in `service`: exec into it when running, a throwaway container otherwise.

    A terminal gets a TTY; piped input (`echo ... | ./inv dev.shell`) is passed through with -T.
    """
    tty = [] if interactive_terminal() else ["-T"]
    args = ["exec", *tty, service] if running else ["run", "--rm", *tty, "--no-deps", service]
    return Step(f"run in {service}", s.compose(*args, *command), interactive=True)


NATIVE_ENV = {"DJANGO_SETTINGS_MODULE": SETTINGS["dev"]}


def manage_step(s: Stack, command: list[str], dry_run: bool = False) -> Step:
    """A manage.py command in the stack's web container; dev without Docker, or with the native server
    running (./inv dev.up --native) and the Docker stack stopped: on the host, against the native stack.

    Fails in seconds, creating nothing, when Docker is there but neither stack is up.
    """
    if s.env == "dev" and (problem := docker_problem()) is not None:
        say(f"Docker is not available ({problem}); running natively on the embedded stack.")
        return Step("run natively", manage(*command), env=NATIVE_ENV, interactive=True)
    if s.env == "dev" and (port := native.running_port()) is not None and not s.is_running("web"):
        say(f"The native dev server serves on port {port} and the Docker stack is stopped: running natively.")
        return Step("run natively", manage(*command), env=NATIVE_ENV, interactive=True)
    if not dry_run:
        s.require_running("web", f"manage.py {' '.join(command[:1])}")
    return one_off(s, "web", ["python", "manage.py", *command], running=True)


# Signs in a failed service's output, and what the person at the keyboard should do.
CAUSES = {
    "password authentication failed": (
        "POSTGRES_PASSWORD in {s.env_file.name} differs from the one the database volume was created with; "
        "put the old value back, or delete the volume with ./inv {s.env}.down --volumes (deletes its data)"
    ),
    "No space left on device": "the disk is full; free space (docker system df shows Docker's share), then retry",
    "Permission denied": "a mounted file or directory is not readable by the container's user; check its owner",
}


def parse_json_lines(text: str) -> list[dict]:
    """`docker compose ... --format json`: one object per line (compose v2.21+) or one JSON list."""
    text = text.strip()
    if not text:
        return []
    if text.startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def diagnose(s: Stack) -> str:
    """The services that failed to start, their last log lines and, where known, the fix."""
    listing = run.run(
        s.compose("--profile", "*", "ps", "--all", "--format", "json"), step="list", capture=True, check=False
    )
    report = []
    for container in parse_json_lines(listing.stdout):
        state, health = container.get("State", ""), container.get("Health", "")
        failed = state in ("restarting", "dead") or health == "unhealthy"
        if not (failed or (state == "exited" and container.get("ExitCode", 0) != 0)):
            continue
        service = container.get("Service", "?")
        logs = run.run(
            s.compose("logs", "--no-color", "--no-log-prefix", "--tail", "12", service),
            step="logs",
            capture=True,
            check=False,
        )
        output = logs.stdout + logs.stderr
        lines = output.strip().splitlines() or ["(no output)"]
        report.append(f"\n  {service} is {health or state}; its last lines:\n    " + "\n    ".join(lines))
        report += [f"\n  likely cause: {cause.format(s=s)}" for sign, cause in CAUSES.items() if sign in output]
    return "".join(report)


NEXT_STEPS = {
    "dev": "./inv test (the tests) · ./inv dev.logs · ./inv dev.shell · ./inv dev.down (data kept)",
    "prod": "./inv prod.ps · ./inv prod.logs · ./inv db.backup --env prod · ./inv prod.rollback",
}


def dev_base(s: Stack) -> str:
    """Where the Docker dev stack's published web port answers on this machine."""
    return f"http://localhost:{s.setting('WEB_PORT', '8000')}"


def summary(s: Stack, base: str = "", extra: tuple[str, ...] = ()) -> str:
    """What a person needs once the stack is up: working URLs, the demo login, and what to do next."""
    if not base and s.env == "dev":
        base = dev_base(s)
    elif not base:
        host = app_module("healthcheck").probe_host(s.setting("ALLOWED_HOSTS"))
        port = s.setting("HTTPS_PORT", "443")
        base = f"https://{host}" + ("" if port == "443" else f":{port}")
    demo = app_module("demo_login")
    login = f"{demo.EMAIL} / {demo.PASSWORD}"
    demo_line = f"Demo login: {login}" if s.env == "dev" else f"Demo data (staging): ./inv prod.demo-data, then {login}"
    return "\n".join(
        [
            f"✓ The {s.env} stack is up (compose project {s.project}).",
            f"  API:     {base}/api/v1/  (lists the endpoints)",
            f"  Docs:    {base}/api/v1/docs/",
            f"  Admin:   {base}/admin/  (staff only; make one: ./inv {s.env}.manage createsuperuser)",
            f"  Health:  {base}/api/v1/health/ready/",
            *extra,
            f"  {demo_line}",
            f"  Next:    {NEXT_STEPS[s.env]}",
        ]
    )


# Host ports the dev stack publishes, with the env-file variable that moves each.
DEV_PORTS = {"WEB_PORT": 8000, "POSTGRES_HOST_PORT": 5432, "REDIS_HOST_PORT": 6379}


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def check_ports(s: Stack) -> None:
    """Fail with the port and the variable to change when a dev port is taken."""
    if s.running_services():
        return  # our own containers hold the ports; `up` will reconcile them
    for variable, default in DEV_PORTS.items():
        port = whole_number_setting(s.env, variable, default, low=1)
        if port_in_use(port):
            raise Exit(
                f"✗ port {port} ({variable}) is already in use on this machine. Stop what listens there "
                f"(find it with: ss -ltnp 'sport = :{port}') or set {variable} to a free port in "
                f"{s.env_file.name}, then run the command again.",
                code=1,
            )
