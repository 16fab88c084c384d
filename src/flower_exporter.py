"""Flower as Celery's Prometheus exporter: `python -m flower_exporter [PORT]` (compose/prod's `flower`).

Flower turns the workers' task events and heartbeats (sent while METRICS is on) into
/metrics: tasks by state, runtimes, workers online. It needs the broker and nothing
else, so it runs without Django's settings and holds none of the app's secrets: the
broker is REDIS_URL with the password read from REDIS_PASSWORD_FILE.

Its UI (tasks with their arguments) asks for a login: user `operator` and the password
in FLOWER_PASSWORD_FILE. /metrics and /healthcheck need none (Prometheus and the
health check), and show no task's arguments.
"""

import os
import sys
from pathlib import Path

from celery import Celery

from core import redis_url

DEFAULT_PORT = 5555
UI_USER = "operator"


def secret_file(variable: str) -> str | None:
    """The secret in the file $variable names (None when unset), read as the settings read theirs."""
    path = os.environ.get(variable, "")
    if not path:
        return None
    try:
        # As the settings read a secret file (SecretFiles): only the editor's newline is not the secret.
        return Path(path).read_text().rstrip("\r\n")
    except OSError as error:
        sys.exit(f"flower_exporter: cannot read {variable} {path}: {error.strerror}")


def broker_url() -> str:
    url = os.environ.get("REDIS_URL", "")
    if not url:
        sys.exit("flower_exporter: REDIS_URL is not set (the broker, e.g. redis://redis:6379/0)")
    password = secret_file("REDIS_PASSWORD_FILE")
    return url if password is None else redis_url.with_password(url, password)


def ui_login() -> list[str]:
    """Flower's --basic_auth option for the UI's one user, or nothing when no password file is set."""
    password = secret_file("FLOWER_PASSWORD_FILE")
    if password is None:
        return []
    if not password or any(character in password for character in ",\n"):
        # Flower splits its list of logins on commas; an empty password would let anyone in.
        sys.exit("flower_exporter: FLOWER_PASSWORD_FILE holds an empty password or a comma; write a new one")
    return [f"--basic_auth={UI_USER}:{password}"]


if __name__ == "__main__":
    # fixups=[]: the image sets DJANGO_SETTINGS_MODULE, and Celery's Django fixup would load those settings.
    port = int(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_PORT
    # The options stay inside this process: no command line shows the password.
    Celery(broker=broker_url(), fixups=[]).start(
        # A dead worker's series is dropped after a minute (Flower sets 0 only on a clean goodbye);
        # metrics need no stored tasks, so memory stays bounded.
        ["flower", "--address=0.0.0.0", f"--port={port}", "--purge_offline_workers=60", "--max_tasks=1000",
         *ui_login()]
    )  # fmt: skip
