"""One runner for every external command, and the plans built on it.

`run` starts a command from the repository root, streams or captures its
output, and turns any failure (non-zero exit, a missing program, a timeout,
Ctrl-C) into one `Exit` line naming the step, the exit code and what to do
next. A task's planner returns Steps; `execute` prints each before running it
and, with `--dry-run`, prints the same plan and runs nothing. A Step that is
Python rather than a command says in `command` what it would check or run, so
a dry run shows every step.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from invoke.exceptions import Exit

ROOT = Path(__file__).resolve().parents[2]
DRY_RUN_HELP = "Print the steps, with their commands, without running anything (default: off)."
# Filled in by stack.py: the compose variables every command gets (kept here so
# this module imports nothing from the layers above it).
BASE_ENV: list[Callable[[], Mapping[str, str]]] = []


def shell(*argv: object) -> str:
    """Quote argv into one shell command line."""
    return shlex.join(str(a) for a in argv)


def say(message: str) -> None:
    print(message, flush=True)


def interactive_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def run(
    command: str,
    *,
    step: str,
    capture: bool = False,
    env: Mapping[str, str] | None = None,
    stdin: object = subprocess.DEVNULL,
    hint: str = "",
    timeout: float | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess:
    """Run `command` (a shell line) from the repository root; fail with one line naming `step`.

    Captured output comes back as text; otherwise it streams to the terminal.
    With check=False a non-zero exit is returned instead of raised.
    """
    environment = {**os.environ}
    for extra in BASE_ENV:
        environment.update(extra())
    environment.update(env or {})
    pipe = subprocess.PIPE if capture else None
    try:
        result = subprocess.run(  # noqa: S602 - our own command lines, quoted with shlex
            command,
            shell=True,
            cwd=ROOT,
            env=environment,
            stdin=stdin,
            stdout=pipe,
            stderr=pipe,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise Exit(failure(step, f"did not finish within {timeout:.0f}s", command, hint), code=1) from None
    except KeyboardInterrupt:
        raise Exit(
            f"✗ step '{step}' interrupted (Ctrl-C); {hint or 'run the command again to finish it.'}", 130
        ) from None
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout or "").strip()[-800:] if capture else ""
        why = f"failed with exit code {result.returncode}" + (f": {detail}" if detail else "")
        raise Exit(failure(step, why, command, hint), code=result.returncode or 1)
    return result


def failure(step: str, why: str, command: str, hint: str) -> str:
    return f"✗ '{step}' {why}\n  command: {command}" + (f"\n  next: {hint}" if hint else "")


def output(command: str, *, step: str, env: Mapping[str, str] | None = None, timeout: float = 120) -> str:
    """The stripped standard output of a query command; failures as in `run`."""
    return run(command, step=step, capture=True, env=env, timeout=timeout).stdout.strip()


@dataclass(frozen=True)
class Step:
    """One thing a task does: a shell command, or Python that says what it does in `command`."""

    name: str
    command: str = ""
    action: Callable[[], object] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    interactive: bool = False  # uses the terminal, or piped standard input (shells, servers, log follow)
    hint: str = ""  # the next thing to do when this step fails

    def render(self) -> str:
        prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        return f"{prefix} {self.command}".strip()


def execute(plan: Sequence[Step], dry_run: bool = False) -> None:
    """Run `plan` step by step; stop at the first failure with one line naming it."""
    if dry_run:
        say("Dry run: these steps would run (nothing was changed):")
    for number, step in enumerate(plan, 1):
        say(f"[{number}/{len(plan)}] {step.name}: {step.render()}")
        if dry_run:
            continue
        label = f"step {number}/{len(plan)} {step.name}"
        if step.action is not None:
            try:
                step.action()
            except KeyboardInterrupt:
                raise Exit(f"✗ '{label}' interrupted (Ctrl-C)", code=130) from None
            continue
        run(
            step.command,
            step=label,
            env=step.env,
            stdin=None if step.interactive else subprocess.DEVNULL,
            hint=step.hint,
        )


def confirm(question: str, yes: bool) -> None:
    """Ask before a destructive step; refuse (never block) without a terminal."""
    if yes:
        return
    if not sys.stdin.isatty() or os.environ.get("CI"):
        raise Exit(f"✗ refusing without confirmation: {question} Re-run with --yes to proceed.", code=2)
    answer = input(f"{question} Type 'yes' to continue: ").strip().lower()
    if answer != "yes":
        raise Exit("Aborted; nothing was changed.", code=1)
