"""Tests: the suite on the host or in Docker, and the end-to-end suite."""

from __future__ import annotations

import shlex

from invoke import Context

from .lib import stack as _stack
from .lib.cli import task
from .lib.run import DRY_RUN_HELP, LOG_DIR, Step, execute, side_by_side

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


# Modules marked `waits` spend most of their time waiting (alert rules' `for:`), not computing: they
# run alongside the rest, their output kept in this log and printed when they end.
WAITING_LOG = LOG_DIR / "test.e2e.waiting.log"


def plan_e2e(select: str) -> list[Step]:
    # With --select, one half may hold no matching test: pytest's 5 ("no tests collected") is then no failure.
    nothing_is_fine = "; [ $status -eq 5 ] && status=0" if select else ""

    def suite(markers: str) -> str:
        args = ["-m", "pytest", "--ds", SETTINGS, "-m", markers, "-p", "no:randomly", "-v"]
        return f"{_stack.python()} {shlex.join([*args, *(['-k', select] if select else []), 'tests/e2e'])}"

    log = shlex.quote(str(WAITING_LOG))
    waiting = Step(
        "the end-to-end modules that mostly wait",
        f"mkdir -p {shlex.quote(str(LOG_DIR))}; {suite('e2e and waits')} > {log} 2>&1; status=$?{nothing_is_fine}; "
        f"echo '--- the end-to-end modules that mostly wait ({WAITING_LOG.name}):'; cat {log}; exit $status",
    )
    rest = Step(
        "the other end-to-end modules", f"{suite('e2e and not waits')}; status=$?{nothing_is_fine}; exit $status"
    )
    return [side_by_side("run the end-to-end suite: the modules that mostly wait alongside the rest", waiting, rest)]


@task(
    help={
        "select": "Only end-to-end tests matching this pytest -k expression (default: all).",
        "dry_run": DRY_RUN_HELP,
    }
)
def e2e(c: Context, select: str = "", dry_run: bool = False) -> None:
    """Run the end-to-end suite against a real Docker engine (builds images, starts stacks)."""
    execute(plan_e2e(select), dry_run)
