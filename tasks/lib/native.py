"""The native dev server (./inv dev.up --native): a marker while it serves, so the other dev tasks find it.

dev.manage, dev.shell, db.migrate and db.makemigrations run in the Docker stack's web container; with
Docker present but that stack stopped, they run on the host against the native stack's database when
a live ./inv serves it. It holds an exclusive lock on var/native-server.json (its port inside) for as
long as it serves; the kernel drops the lock when the process ends however it ends, so a marker left
by a killed server is known to be stale and no reused pid can pass for it.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager

from .stack import ROOT

MARKER = ROOT / "var" / "native-server.json"


@contextmanager
def serving(port: int) -> Iterator[None]:
    """Mark this process as the native server on `port` while the block runs (unmarked if another serves)."""
    MARKER.parent.mkdir(parents=True, exist_ok=True)
    with MARKER.open("a+") as marker:
        try:
            fcntl.flock(marker, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another native server of this checkout serves, and keeps the marker
            yield
            return
        marker.truncate(0)
        marker.write(json.dumps({"port": port}))
        marker.flush()
        try:
            yield
        finally:
            marker.truncate(0)


def running_port() -> int | None:
    """The native server's port, if a live process holds the marker's lock."""
    try:
        with MARKER.open() as marker:
            try:
                fcntl.flock(marker, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return int(json.loads(marker.read())["port"])
            return None  # nobody holds it: a server that ended
    except (OSError, ValueError, KeyError, TypeError):
        return None
