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
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from invoke.exceptions import Exit

ROOT = Path(__file__).resolve().parents[2]
DRY_RUN_HELP = "Print the steps, with their commands, without running anything (default: off)."
# Filled in by stack.py: the compose variables every command gets (kept here so
# this module imports nothing from the layers above it).
BASE_ENV: list[Callable[[], Mapping[str, str]]] = []
# Filled in by stack.py too: variables of ./inv's own environment that no command inherits.
WITHHELD: set[str] = set()
LOG_TAIL_LINES = 15
# The exit status of a command stopped by Ctrl-C (128 + SIGINT), as a shell reports it.
INTERRUPTED = 130
LOG_DIR = ROOT / "var" / "log"


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
    log: Path | None = None,
) -> subprocess.CompletedProcess:
    """Run `command` (a shell line) from the repository root; fail with one line naming `step`.

    Captured output comes back as text; with `log` it is appended to that file
    (its last lines are shown on failure); otherwise it streams to the terminal.
    With check=False a non-zero exit is returned instead of raised.
    """
    environment = {k: v for k, v in os.environ.items() if k not in WITHHELD}
    for extra in BASE_ENV:
        environment.update(extra())
    environment.update(env or {})
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as sink:
            sink.write(f"\n$ {command}\n")
            start = sink.tell()
            sink.flush()
            result = run_process(command, environment, stdin, sink, subprocess.STDOUT, timeout, step, hint)
        if check and result.returncode != 0:
            tail = log.read_text(errors="replace")[start:].strip().splitlines()[-LOG_TAIL_LINES:]
            shown = "\n    ".join(tail) or "(no output)"
            why = f"failed with exit code {result.returncode}; its last lines:\n    {shown}\n  full log: {log}"
            raise Exit(failure(step, why, command, hint), code=result.returncode or 1)
        return result
    pipe = subprocess.PIPE if capture else None
    result = run_process(command, environment, stdin, pipe, pipe, timeout, step, hint)
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout or "").strip()[-800:] if capture else ""
        why = f"failed with exit code {result.returncode}" + (f": {detail}" if detail else "")
        raise Exit(failure(step, why, command, hint), code=result.returncode or 1)
    return result


def run_process(
    command: str,
    environment: Mapping[str, str],
    stdin: object,
    stdout: object,
    stderr: object,
    timeout: float | None,
    step: str,
    hint: str,
) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(  # noqa: S602 - our own command lines, quoted with shlex
            command,
            shell=True,
            cwd=ROOT,
            env=environment,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise Exit(failure(step, f"did not finish within {timeout:.0f}s", command, hint), code=1) from None
    except KeyboardInterrupt:
        raise Exit(
            f"✗ step '{step}' interrupted (Ctrl-C); {hint or 'run the command again to finish it.'}", INTERRUPTED
        ) from None


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
    quiet: bool = False  # output to the task's log file, one progress line here (builds, compose up)
    diagnose: Callable[[], str] | None = None  # on failure: what went wrong, read from the system
    server: bool = False  # serves until Ctrl-C, which is how it stops, not a failure

    def render(self) -> str:
        prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        return f"{prefix} {self.command}".strip()


def execute(plan: Sequence[Step], dry_run: bool = False, log: Path | None = None) -> None:
    """Run `plan` step by step; stop at the first failure with one line naming it.

    Quiet steps write their output to `log` and show one progress line with
    their duration; a failure shows their last lines and names the log.
    """
    if dry_run:
        say("Dry run: these steps would run (nothing was changed):")
    for number, step in enumerate(plan, 1):
        quiet = step.quiet and log is not None and not dry_run
        heading = f"[{number}/{len(plan)}] {step.name}"
        if quiet:
            print(f"{heading} ...", end=" ", flush=True)
        else:
            say(f"{heading}: {step.render()}")
        if dry_run:
            continue
        label = f"step {number}/{len(plan)} {step.name}"
        started = time.monotonic()
        try:
            run_step(step, label, log if quiet else None)
        except Exit as failed:
            if quiet:
                say("✗")
            diagnosis = step.diagnose() if step.diagnose else ""
            raise Exit(f"{failed.message}{diagnosis}", code=failed.code) from None
        if quiet:
            say(f"✓ {time.monotonic() - started:.1f} s")


def run_step(step: Step, label: str, log: Path | None) -> None:
    if step.action is not None:
        try:
            step.action()
        except KeyboardInterrupt:
            raise Exit(f"✗ '{label}' interrupted (Ctrl-C)", code=INTERRUPTED) from None
        return
    try:
        run(
            step.command,
            step=label,
            env=step.env,
            stdin=None if step.interactive else subprocess.DEVNULL,
            hint=step.hint,
            log=log,
        )
    except Exit as stopped:
        if not (step.server and stopped.code == INTERRUPTED):
            raise
        say("Stopped (Ctrl-C).")


@contextmanager
def meanwhile(work: Callable[[], object]) -> Iterator[Future]:
    """Run `work` in the background while the block runs; the block ends only once `work` has ended.

    The future holds its result or its exception (`.result()` raises it).
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool.submit(work)


def side_by_side(name: str, *steps: Step) -> Step:
    """One step that runs independent `steps` at once; when all have ended, it fails with the first failure."""

    def action() -> None:
        failures: list[Exit] = []

        def one(step: Step) -> None:
            try:
                run_step(step, step.name, None)
            except Exit as failed:
                failures.append(failed)
            except BaseException as error:  # a thread's error must fail the step, not vanish
                failures.append(Exit(f"✗ '{step.name}' failed: {error!r}", code=1))

        threads = [threading.Thread(target=one, args=(step,)) for step in steps]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            raise failures[0]

    return Step(name, " & ".join(f"({step.render()})" for step in steps) + "; wait", action=action)


def confirm(question: str, yes: bool) -> None:
    """Ask before a destructive step; refuse (never block) without a terminal."""
    if yes:
        return
    if not sys.stdin.isatty() or os.environ.get("CI"):
        raise Exit(f"✗ refusing without confirmation: {question} Re-run with --yes to proceed.", code=2)
    answer = input(f"{question} Type 'yes' to continue: ").strip().lower()
    if answer != "yes":
        raise Exit("Aborted; nothing was changed.", code=1)
