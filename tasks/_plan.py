"""Plan, then execute: how every task runs its commands.

A task's planner is a pure function returning a list of Steps; `execute` runs
them from the repository root, printing each before it runs, and turns a
failure into one line naming the step and its exit code. `--dry-run` prints
the same plan and runs nothing, so what you see is what would run.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from invoke import Context
from invoke.exceptions import Exit, UnexpectedExit

from ._stack import ROOT, compose_environment

DRY_RUN_HELP = "Print the steps without running anything (default: off)."


@dataclass(frozen=True)
class Step:
    """One thing a task does: a shell command, or a Python action with a description."""

    name: str
    command: str = ""
    action: Callable[[], object] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    interactive: bool = False  # needs the terminal (shells, servers, log follow)
    hint: str = ""  # the next step to suggest when this one fails

    def render(self) -> str:
        if self.action is not None:
            return f"({self.command or self.name})"
        prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        return f"{prefix} {self.command}".strip()


def shell(*argv: object) -> str:
    """Quote argv into one shell command line."""
    return shlex.join(str(a) for a in argv)


def say(message: str) -> None:
    print(message, flush=True)


def execute(c: Context, plan: Sequence[Step], dry_run: bool = False) -> None:
    """Run `plan` step by step from the repository root; stop at the first failure."""
    if dry_run:
        say("Dry run: these steps would run (nothing was changed):")
    for number, step in enumerate(plan, 1):
        say(f"[{number}/{len(plan)}] {step.name}: {step.render()}")
        if dry_run:
            continue
        try:
            if step.action is not None:
                step.action()
                continue
            with c.cd(str(ROOT)):
                tty = step.interactive and sys.stdin.isatty() and sys.stdout.isatty()
                c.run(
                    step.command, env={**compose_environment(), **step.env}, pty=tty, in_stream=None if tty else False
                )
        except UnexpectedExit as exc:
            hint = f"\n  next: {step.hint}" if step.hint else ""
            raise Exit(
                f"✗ step {number}/{len(plan)} '{step.name}' failed with exit code {exc.result.exited}: "
                f"{step.render()}{hint}",
                code=exc.result.exited or 1,
            ) from None
        except KeyboardInterrupt:
            raise Exit(f"✗ step '{step.name}' interrupted", code=130) from None


def confirm(question: str, yes: bool) -> None:
    """Ask before a destructive step; refuse (never block) without a terminal."""
    if yes:
        return
    if not sys.stdin.isatty() or os.environ.get("CI"):
        raise Exit(f"✗ refusing without confirmation: {question} Re-run with --yes to proceed.", code=2)
    answer = input(f"{question} Type 'yes' to continue: ").strip().lower()
    if answer != "yes":
        raise Exit("Aborted; nothing was changed.", code=1)
