"""One lock per stack: backup, restore, transfer and deploy never overlap.

An exclusive `flock` on `<backups dir>/.lock-<env>`, a file the scheduled
backup service (docker/backup/backup-loop.sh) locks too, through its bind
mount. The file names the holder: a second operation waits for it a while
(a scheduled backup takes seconds), saying who it waits for, then refuses.
The kernel drops the lock when the holder exits, even on SIGKILL, so a crash
never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from invoke.exceptions import Exit

from . import backups
from .run import say
from .stack import Stack

WAIT_SECONDS = 120


@contextmanager
def held(s: Stack, operation: str, dry_run: bool = False, wait: float = WAIT_SECONDS) -> Iterator[None]:
    """Hold the stack's lock while the block runs; wait up to `wait` seconds for a holder, then refuse naming it."""
    if dry_run:
        yield
        return
    path = backups.prepare_dir() / f".lock-{s.env}"
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    backups.hand_over(path)  # the backup service locks it too, as HOST_UID
    try:
        deadline, told = time.monotonic() + wait, False
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = os.pread(descriptor, 400, 0).decode(errors="replace").strip() or "another operation"
                if time.monotonic() >= deadline:
                    raise Exit(
                        f"✗ cannot start {operation}: {holder} holds the {s.env} stack's lock ({path}). "
                        "Wait for it to finish, then retry.",
                        code=1,
                    ) from None
                if not told:
                    say(f"  waiting up to {wait:.0f}s for {holder} to finish (the {s.env} stack's lock)")
                    told = True
                time.sleep(0.5)
        os.ftruncate(descriptor, 0)
        since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        os.pwrite(descriptor, f"{operation} (pid {os.getpid()}, since {since})\n".encode(), 0)
        yield
    finally:
        os.close(descriptor)  # releases the lock
