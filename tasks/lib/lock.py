"""One lock per stack: backup, restore, transfer and deploy never overlap; a crashed one is undone by the next.

An exclusive `flock` on `<backups dir>/.lock-<env>`, a file the scheduled
backup service (docker/backup/backup-loop.sh) locks too, through its bind
mount. The file names the holder: a second operation waits for it a while
(a scheduled backup takes seconds), saying who it waits for, then refuses.
The kernel drops the lock when the holder exits, even on SIGKILL, so a crash
never leaves a stale lock behind; it may leave a note of what to undo
(journal.py), which whoever takes the lock next acts on first.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from invoke.exceptions import Exit

from . import journal
from .db import backups
from .run import say
from .stack import Stack

WAIT_SECONDS = 120


def opened(s: Stack) -> tuple[Path, int]:
    path = backups.prepare_dir() / f".lock-{s.env}"
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    backups.hand_over(path)  # the backup service locks it too, as HOST_UID
    return path, descriptor


def taken(descriptor: int) -> bool:
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def holder(descriptor: int) -> str:
    return os.pread(descriptor, 400, 0).decode(errors="replace").strip() or "another operation"


def claim(descriptor: int, operation: str) -> None:
    """Name the holder in the file, for whoever waits."""
    os.ftruncate(descriptor, 0)
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    os.pwrite(descriptor, f"{operation} (pid {os.getpid()}, since {since})\n".encode(), 0)


@contextmanager
def held(s: Stack, operation: str, dry_run: bool = False, wait: float = WAIT_SECONDS) -> Iterator[None]:
    """Hold the stack's lock while the block runs; wait up to `wait` seconds for a holder, then refuse naming it.

    First undoes what a run that died holding it left behind (journal.py).
    """
    if dry_run:
        journal.recover(s, dry_run=True)
        yield
        return
    path, descriptor = opened(s)
    try:
        deadline, told = time.monotonic() + wait, False
        while not taken(descriptor):
            if time.monotonic() >= deadline:
                raise Exit(
                    f"✗ cannot start {operation}: {holder(descriptor)} holds the {s.env} stack's lock ({path}). "
                    "Wait for it to finish, then retry.",
                    code=1,
                )
            if not told:
                say(f"  waiting up to {wait:.0f}s for {holder(descriptor)} to finish (the {s.env} stack's lock)")
                told = True
            time.sleep(0.5)
        claim(descriptor, operation)
        journal.recover(s)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def recover(s: Stack, operation: str, dry_run: bool = False) -> None:
    """For commands that never hold the lock (up, ps): undo what a dead run left, when the lock is free.

    A note while the lock is held belongs to a run still under way: what it paused or pinned is its own.
    """
    if not journal.path(s).exists():
        return
    if dry_run:
        journal.recover(s, dry_run=True)
        return
    _, descriptor = opened(s)
    try:
        if taken(descriptor):
            claim(descriptor, operation)
            journal.recover(s)
        else:
            say(f"  {holder(descriptor)} is under way on the {s.env} stack (what it paused or pinned is its own)")
    finally:
        os.close(descriptor)
