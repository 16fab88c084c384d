"""Requirements: compile the human-edited .in files into pinned .txt files."""

from __future__ import annotations

from invoke import Context

from .lib import stack as _stack
from .lib.cli import task
from .lib.run import DRY_RUN_HELP, Step, execute

# Order matters: each set is constrained by the one before it.
SETS = ("base", "prod", "dev")


def plan_compile(upgrade: bool) -> list[Step]:
    return [
        Step(
            f"compile requirements/{name}.txt",
            f"{_stack.python()} -m uv pip compile --universal --python-version 3.11 --quiet --no-header "
            f"--annotation-style line --generate-hashes --no-strip-extras {'--upgrade ' if upgrade else ''}"
            f"--custom-compile-command './inv deps.compile' requirements/{name}.in -o requirements/{name}.txt",
        )
        for name in SETS
    ]


@task(
    default=True,
    help={
        "upgrade": "Move every pin to the newest version the .in files allow (default: off, keep pins).",
        "dry_run": DRY_RUN_HELP,
    },
)
def compile(c: Context, upgrade: bool = False, dry_run: bool = False) -> None:  # noqa: A001
    """Compile requirements/*.in into pinned requirements/*.txt (universal: Python 3.11 and 3.13)."""
    execute(plan_compile(upgrade), dry_run)
