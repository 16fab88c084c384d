"""Plans that dev and prod share: stop, logs, status, and one-off commands in a service."""

from __future__ import annotations

from .run import DRY_RUN_HELP, Step, interactive_terminal, say
from .stack import SETTINGS, Stack, docker_problem, manage

LOGS_HELP = {
    "service": "Service whose logs to show; repeat for several (default: all).",
    "follow": "Keep following new output (default: on; --no-follow prints and exits).",
    "tail": "Lines of history per service (default: 200).",
    "dry_run": DRY_RUN_HELP,
}


def plan_down(s: Stack, volumes: bool) -> list[Step]:
    what = " and DELETE the data volumes" if volumes else " (volumes kept)"
    # Every profile, so optional services (flower, backup) stop too.
    args = ["--profile", "*", "down", "--remove-orphans", *(["--volumes"] * volumes)]
    return [Step("stop and remove containers" + what, s.compose(*args))]


def plan_logs(s: Stack, services: list[str], follow: bool, tail: int) -> list[Step]:
    args = ["logs", "--tail", str(tail), *(["--follow"] * follow), *services]
    return [Step("logs", s.compose(*args), interactive=follow)]


def plan_ps(s: Stack) -> list[Step]:
    return [Step("status", s.compose("--profile", "*", "ps", "--all"))]


def one_off(s: Stack, service: str, command: list[str], running: bool) -> Step:
    """`command` in `service`: exec into it when running, a throwaway container otherwise.

    A terminal gets a TTY; piped input (`echo ... | ./inv dev.shell`) is passed through with -T.
    """
    tty = [] if interactive_terminal() else ["-T"]
    args = ["exec", *tty, service] if running else ["run", "--rm", *tty, "--no-deps", service]
    return Step(f"run in {service}", s.compose(*args, *command), interactive=True)


NATIVE_ENV = {"DJANGO_SETTINGS_MODULE": SETTINGS["dev"]}


def manage_step(s: Stack, command: list[str]) -> Step:
    """A manage.py command in the dev web container, or on the host without Docker.

    Fails in seconds, creating nothing, when Docker is there but the stack is down.
    """
    if (problem := docker_problem()) is not None:
        say(f"Docker is not available ({problem}); running natively on the embedded stack.")
        return Step("run natively", manage(*command), env=NATIVE_ENV, interactive=True)
    s.require_running("web", f"manage.py {' '.join(command[:1])}")
    return one_off(s, "web", ["python", "manage.py", *command], running=True)
