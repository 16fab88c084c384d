"""Linters: ruff for Python, hadolint for Dockerfiles."""

from __future__ import annotations

from invoke import Context, task

from . import _stack
from ._plan import DRY_RUN_HELP, Step, execute

DOCKERFILES = ("docker/django/Dockerfile", "docker/nginx/Dockerfile", "docker/backup/Dockerfile")


def plan_lint(fix: bool) -> list[Step]:
    py = _stack.python()
    return [
        Step("ruff check", f"{py} -m ruff check {'--fix ' if fix else ''}."),
        Step("ruff format", f"{py} -m ruff format {'' if fix else '--check '}."),
        Step("hadolint every Dockerfile", f"{_stack.tool('hadolint')} {' '.join(DOCKERFILES)}"),
    ]


@task(
    default=True,
    help={
        "fix": "Apply ruff's safe fixes and formatting instead of only reporting (default: off).",
        "dry_run": DRY_RUN_HELP,
    },
)
def run(c: Context, fix: bool = False, dry_run: bool = False) -> None:
    """Lint the Python code with ruff and the Dockerfiles with hadolint (prod.check adds the compose checks)."""
    execute(c, plan_lint(fix), dry_run)
