"""Heartbeat files for Celery worker and beat liveness.

`python -m config.heartbeat worker` exits 0 when the worker touched its file
within STALE_AFTER seconds, 1 otherwise (with the reason on stderr). It reads
only a file: no broker round trip, so a health check costs almost nothing.
"""

import os
import sys
import time
from pathlib import Path

INTERVAL = 10.0
STALE_AFTER = 60.0


def path(role: str) -> Path:
    # /tmp is a tmpfs in the containers; the file is not a secret.
    return Path(os.environ.get("CELERY_HEARTBEAT_DIR", "/tmp")) / f"celery-{role}.heartbeat"  # noqa: S108


def touch(role: str) -> None:
    path(role).touch()


def remove(role: str) -> None:
    path(role).unlink(missing_ok=True)


def check(role: str, now: float | None = None) -> str | None:
    """None when healthy, else why not."""
    try:
        age = (now or time.time()) - path(role).stat().st_mtime
    except FileNotFoundError:
        return f"no heartbeat file at {path(role)}: the {role} has not started"
    return None if age <= STALE_AFTER else f"{role} heartbeat is {age:.0f}s old (limit {STALE_AFTER:.0f}s)"


if __name__ == "__main__":
    role = sys.argv[1] if len(sys.argv) > 1 else ""
    if role not in ("worker", "beat"):
        sys.exit("usage: python -m config.heartbeat worker|beat")
    problem = check(role)
    if problem:
        sys.exit(problem)
