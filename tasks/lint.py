"""Linters: ruff for Python; hadolint and compose validation for containers."""

from __future__ import annotations

from invoke import Context, task

from . import _stack
from ._plan import Step, execute


def plan_lint(fix: bool) -> list[Step]:
    py = _stack.python()
    return [
        Step("ruff check", f"{py} -m ruff check {'--fix ' if fix else ''}."),
        Step("ruff format", f"{py} -m ruff format {'' if fix else '--check '}."),
    ]


@task(
    default=True,
    help={
        "fix": "Apply ruff's safe fixes and formatting instead of only reporting (default: off).",
        "dry_run": "Print the steps without running anything (default: off).",
    },
)
def run(c: Context, fix: bool = False, dry_run: bool = False) -> None:
    """Lint the Python code with ruff."""
    execute(c, plan_lint(fix), dry_run)
