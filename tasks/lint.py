"""Linters: ruff for Python, hadolint for Dockerfiles, bash -n for the backup scripts."""

from __future__ import annotations

from invoke import Context

from .lib.checks import plan_lint
from .lib.cli import task
from .lib.run import DRY_RUN_HELP, execute


@task(
    default=True,
    help={
        "fix": "Apply ruff's safe fixes and formatting instead of only reporting (default: off).",
        "dry_run": DRY_RUN_HELP,
    },
)
def run(c: Context, fix: bool = False, dry_run: bool = False) -> None:
    """Lint Python (ruff), Dockerfiles (hadolint) and backup scripts (bash -n); prod.check adds compose checks."""
    execute(plan_lint(fix), dry_run)
