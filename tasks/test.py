"""Tests: the suite on the host or in Docker, and the end-to-end suite."""

from __future__ import annotations

import shlex

from invoke import Context

from .lib import stack as _stack
from .lib.cli import task
from .lib.run import DRY_RUN_HELP, Step, execute

SETTINGS = "config.settings.test"


def pytest_args(select: str, path: str, coverage: bool, failfast: bool, extra: str) -> list[str]:
    args = ["-m", "pytest", "--ds", SETTINGS]
    if select:
        args += ["-k", select]
    if failfast:
        args.append("-x")
    if coverage:
        args += ["--cov=src", "--cov-report=term-missing:skip-covered"]
    args += shlex.split(extra)
    if path:
        args.append(path)
    return args


def plan_test(
    select: str = "",
    path: str = "",
    coverage: bool = False,
    failfast: bool = False,
    docker: bool = False,
    running: bool = False,
    extra: str = "",
) -> list[Step]:
    args = pytest_args(select, path, coverage, failfast, extra)
    if not docker:
        return [Step("run the test suite on the host", f"{_stack.python()} {shlex.join(args)}")]
    dev = _stack.stack("dev")
    where = ["exec", "-T", "-w", "/app", "web"] if running else ["run", "--rm", "-T", "-w", "/app", "web"]
    return [Step("run the test suite in the dev web container", dev.compose(*where, "python", *args))]


@task(
    default=True,
    help={
        "select": "Only tests matching this pytest -k expression (default: all).",
        "path": "Only tests under this path, e.g. tests/api or tests/api/test_orders.py (default: tests/).",
        "coverage": "Measure coverage of src/ and print the report (default: off).",
        "failfast": "Stop at the first failure (default: off).",
        "docker": "Run inside the dev web container against the compose PostgreSQL and Redis (default: off).",
        "dry_run": DRY_RUN_HELP,
    },
)
def run(
    c: Context,
    select: str = "",
    path: str = "",
    coverage: bool = False,
    failfast: bool = False,
    docker: bool = False,
    dry_run: bool = False,
) -> None:
    """Run the test suite (PostgreSQL when DATABASE_URL is set, SQLite otherwise); `-- ARGS` go to pytest."""
    running = docker and not dry_run and _stack.stack("dev").is_running("web")
    extra = getattr(c, "remainder", "") or ""
    execute(plan_test(select, path, coverage, failfast, docker, running, extra), dry_run)


@task(
    help={
        "select": "Only end-to-end tests matching this pytest -k expression (default: all).",
        "dry_run": DRY_RUN_HELP,
    }
)
def e2e(c: Context, select: str = "", dry_run: bool = False) -> None:
    """Run the end-to-end suite against a real Docker engine (builds images, starts stacks)."""
    args = ["-m", "pytest", "--ds", SETTINGS, "-m", "e2e", "-p", "no:randomly", "-v"]
    if select:
        args += ["-k", select]
    execute([Step("run the end-to-end suite", f"{_stack.python()} {shlex.join([*args, 'tests/e2e'])}")], dry_run)
