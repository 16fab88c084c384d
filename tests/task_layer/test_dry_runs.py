"""A dry run prints what then runs: for the main plans, the steps `--dry-run` shows are the steps a real run takes.

Each task runs twice on the same stubbed state (running services, the database volume, the applied
migrations, the deploy record): first with dry_run=True, its output captured; then for real, with the
process boundary (tasks.lib.run.run_process) recording each command line and its environment instead of
starting it. A command step must have started exactly the command it printed, with the variables it
printed in that process's environment. A Python action step (preflight, smoke test, rollout, readiness
wait) is stubbed and compared by its name and place only; a step that runs others side by side runs
them, and each of those is compared.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import threading
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from pathlib import Path

import pytest
from invoke import MockContext

from tasks import db, dev, prod
from tasks.lib import deploys, rollout, run
from tasks.lib import stack as _stack
from tasks.lib.db import database
from tasks.lib.run import Step, side_by_side

from .test_db_tasks import write_backup

EVERY_SERVICE = frozenset({"db", "redis", "cache", "web", "worker", "beat", "backup", "proxy"})
STEP_LINE = re.compile(r"\[\d+/\d+\] (.*)")  # `[n/N] name: command`


class Recorder:
    """The process boundary, recording instead of starting: each command line and its environment,
    attributed to the step that started it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.steps: list[str] = []  # `name: what ran`, one per step a plan ran
        self.parallel: list[str] | None = None  # what the steps of a side-by-side step ran, while it runs
        self.local = threading.local()  # side-by-side steps run in threads of their own
        self.processes = 0
        self.run_step = run.run_step
        monkeypatch.setattr(run, "run_process", self.process)
        monkeypatch.setattr(run, "run_step", self.step)

    def process(self, command: str, environment: Mapping[str, str], *args: object) -> subprocess.CompletedProcess:
        started = getattr(self.local, "started", None)
        assert started is not None, f"a process started outside any step (a state read left unstubbed?): {command}"
        started.append((command, dict(environment)))
        self.processes += 1
        return subprocess.CompletedProcess(command, 0, "", "")

    def step(self, step: Step, label: str, log: Path | None) -> None:
        shown = self.what_ran(step, label, log)
        if self.parallel is not None:
            self.parallel.append(shown)
        else:
            self.steps.append(f"{step.name}: {shown}")

    def what_ran(self, step: Step, label: str, log: Path | None) -> str:
        """What the step ran, written as its dry run writes it."""
        if step.action is None:
            self.local.started = []
            self.run_step(step, label, log)
            started, self.local.started = self.local.started, None
            assert len(started) == 1, f"step {step.name!r} started {len(started)} processes, not one"
            [(command, environment)] = started
            values = " ".join(f"{k}={shlex.quote(environment.get(k, '(unset)'))}" for k in step.env)
            return f"{values} {command}".strip()
        if step.action.__qualname__.startswith(f"{side_by_side.__qualname__}."):
            self.parallel = []
            self.run_step(step, label, log)
            ran, self.parallel = self.parallel, None
            return " & ".join(f"({command})" for command in ran) + "; wait"
        return step.command  # a Python action, not run: compared by its name and place only


def printed_steps(out: str) -> list[str]:
    """A dry run's `[n/N] name: command` steps without the numbering, up to the plans that run only on a failure.

    Without the numbering: db.restore runs as three plans (prepare, switch, readiness) what its dry run
    prints as one.
    """
    steps: list[str] = []
    for line in out.splitlines():
        if line.startswith("On a failure"):
            break
        if step := STEP_LINE.fullmatch(line):
            steps.append(step.group(1))
        elif steps:  # a command of several lines (a script passed to a shell) goes on
            steps[-1] += "\n" + line
    return steps


def unordered(line: str) -> str:
    """`name: (a) & (b); wait` with its commands sorted: steps side by side start in any order."""
    name, sep, rest = line.partition(": (")
    if not sep or not rest.endswith("); wait"):
        return line
    commands = rest.removesuffix("); wait").split(") & (")
    return f"{name}: ({') & ('.join(sorted(commands))}); wait"


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, up: frozenset[str]) -> Recorder:
    """The state both runs read, stubbed alike: `up` runs, the database volume exists, the deploy record says v1."""
    monkeypatch.setenv("BACKUP_DIR", str(tmp_path / "backups"))
    monkeypatch.setattr(_stack.Stack, "running_services", lambda self: set(up))
    monkeypatch.setattr(_stack.Stack, "volume_exists", lambda self, name: True)
    monkeypatch.setattr(_stack, "docker_problem", lambda: None)
    monkeypatch.setattr(database, "migration_state", lambda s: {"orders": "0001_initial"})
    monkeypatch.setattr(database, "check_versions", lambda s, dump: None)
    monkeypatch.setattr(deploys, "deployed", lambda project: {"current": "v1", "previous": "v0"})
    monkeypatch.setattr(deploys, "record", lambda project, tag, **facts: None)
    monkeypatch.setattr(rollout, "watching", lambda *a: nullcontext(rollout.Availability()))
    # Quiet steps log to the task's file: a scratch one, not the checkout's var/log.
    for module in (dev, prod):
        monkeypatch.setattr(module, "ROOT", tmp_path)
        monkeypatch.setattr(module, "LOG", tmp_path / "var" / "log" / module.LOG.name)
    return Recorder(monkeypatch)


def dump_in(directory: Path) -> Path:
    directory.mkdir(exist_ok=True)
    return write_backup(directory, "desideliver-dev-20261122T010203Z.dump", created="2026-11-22T01:02:03+00:00")


TASKS: dict[str, Callable[[Path, bool], None]] = {
    "db.backup": lambda tmp, dry_run: db.backup(MockContext(), dry_run=dry_run),
    "db.restore": lambda tmp, dry_run: db.restore(
        MockContext(), file=str(dump_in(tmp / "backups")), yes=True, dry_run=dry_run
    ),
    "prod.deploy": lambda tmp, dry_run: prod.deploy(MockContext(), tag="v2", dry_run=dry_run),
    "dev.up": lambda tmp, dry_run: dev.up(MockContext(), docker=True, dry_run=dry_run),
    "dev.up --flower": lambda tmp, dry_run: dev.up(MockContext(), docker=True, flower=True, dry_run=dry_run),
}


@pytest.mark.parametrize("up", [EVERY_SERVICE, frozenset({"db"})], ids=["stack running", "db only"])
@pytest.mark.parametrize("task", TASKS)
def test_a_dry_run_prints_the_commands_that_then_run(task, up, recorder, tmp_path, capsys):
    TASKS[task](tmp_path, True)
    printed = printed_steps(capsys.readouterr().out)
    assert recorder.steps == [], "a dry run ran a step"
    TASKS[task](tmp_path, False)
    assert [unordered(line) for line in recorder.steps] == [unordered(line) for line in printed]
    assert recorder.processes >= 1, "only stubbed actions ran: no command was compared"
