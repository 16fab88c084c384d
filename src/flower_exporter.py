"""Flower as Celery's Prometheus exporter: `python -m flower_exporter [PORT]` (compose/prod's `flower`).

Flower turns the workers' task events and heartbeats (sent while METRICS is on) into
/metrics: tasks by state, runtimes, workers online. It needs the broker and nothing
else, so it runs without Django's settings and holds none of the app's secrets: the
broker is REDIS_URL with the password read from REDIS_PASSWORD_FILE.
"""

import os
import sys
from pathlib import Path

from celery import Celery

from core import redis_url

DEFAULT_PORT = 5555


def broker_url() -> str:
    url, password_file = os.environ.get("REDIS_URL", ""), os.environ.get("REDIS_PASSWORD_FILE", "")
    if not url:
        sys.exit("flower_exporter: REDIS_URL is not set (the broker, e.g. redis://redis:6379/0)")
    if not password_file:
        return url
    try:
        # As the settings read a secret file (SecretFiles): only the editor's newline is not the password.
        password = Path(password_file).read_text().rstrip("\r\n")
    except OSError as error:
        sys.exit(f"flower_exporter: cannot read REDIS_PASSWORD_FILE {password_file}: {error.strerror}")
    return redis_url.with_password(url, password)


if __name__ == "__main__":
    # fixups=[]: the image sets DJANGO_SETTINGS_MODULE, and Celery's Django fixup would load those settings.
    port = int(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_PORT
    Celery(broker=broker_url(), fixups=[]).start(
        # A dead worker's series is dropped after a minute (Flower sets 0 only on a clean goodbye);
        # metrics need no stored tasks, so memory stays bounded.
        ["flower", "--address=0.0.0.0", f"--port={port}", "--purge_offline_workers=60", "--max_tasks=1000"]
    )
