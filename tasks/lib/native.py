"""The native dev server (./inv dev.up --native): a marker while it serves, so the other dev tasks find it.

dev.manage, dev.shell, db.migrate and db.makemigrations run in the Docker stack's web container; with
Docker present but that stack stopped, they run on the host against the native stack's database when
this marker names a live ./inv serving it (var/native-server.json: its pid, port and database).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager

from . import files
from .stack import ROOT

MARKER = ROOT / "var" / "native-server.json"


@contextmanager
def serving(port: int) -> Iterator[None]:
    """Mark this process as the native server on `port` while the block runs."""
    files.write_atomically(MARKER, json.dumps({"pid": os.getpid(), "port": port}))
    try:
        yield
    finally:
        MARKER.unlink(missing_ok=True)


def running_port() -> int | None:
    """The native server's port, if a live process marked itself as serving it."""
    try:
        marked = json.loads(MARKER.read_text())
        os.kill(int(marked["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return int(marked["port"])
