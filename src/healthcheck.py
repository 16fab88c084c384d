"""Container health checks: `python -m healthcheck web|ready|worker|beat`.

Exit 0 when healthy, 1 with the reason on stderr otherwise.

- worker, beat: the process touches a heartbeat file every INTERVAL seconds
  (see config/celery.py); healthy while it is at most STALE_AFTER seconds old.
  Reading a file costs nothing, unlike a `celery inspect ping` broker round trip.
- web: GET the liveness endpoint with a Host header taken from ALLOWED_HOSTS,
  so the probe passes host validation without widening ALLOWED_HOSTS.
- ready: the same for the readiness endpoint (database, cache, migrations);
  not a container health check (an outage must not restart web), but the
  gate ./inv uses before a restore or a rollout lets traffic in.
"""

import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

INTERVAL = 10.0
STALE_AFTER = 60.0


def path(role: str) -> Path:
    # /tmp is a tmpfs in the containers; the file holds nothing secret.
    return Path(os.environ.get("CELERY_HEARTBEAT_DIR", "/tmp")) / f"celery-{role}.heartbeat"  # noqa: S108


def touch(role: str) -> None:
    path(role).touch()


def remove(role: str) -> None:
    path(role).unlink(missing_ok=True)


def check(role: str, now: float | None = None) -> str | None:
    """None when the heartbeat is fresh, else why not."""
    try:
        age = (now or time.time()) - path(role).stat().st_mtime
    except FileNotFoundError:
        return f"no heartbeat file at {path(role)}: the {role} has not started"
    return None if age <= STALE_AFTER else f"{role} heartbeat is {age:.0f}s old (limit {STALE_AFTER:.0f}s)"


def probe_host(allowed_hosts: str) -> str:
    """A Host header Django will accept: the first concrete ALLOWED_HOSTS entry."""
    for host in (h.strip() for h in allowed_hosts.split(",")):
        if host and host != "*":
            return host.lstrip(".")
    return "localhost"


LIVENESS = "http://127.0.0.1:8000/api/v1/health/"
READINESS = "http://127.0.0.1:8000/api/v1/health/ready/"


def check_web(url: str = LIVENESS) -> str | None:
    host = probe_host(os.environ.get("ALLOWED_HOSTS", "localhost"))
    request = urllib.request.Request(url, headers={"Host": host, "X-Forwarded-Proto": "https"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=4) as response:  # noqa: S310 - a fixed local http URL
            return None if response.status == 200 else f"{url} answered {response.status}"
    except (urllib.error.URLError, OSError) as exc:
        return f"{url} (Host: {host}) failed: {exc}"


if __name__ == "__main__":
    role = sys.argv[1] if len(sys.argv) > 1 else ""
    if role not in ("web", "ready", "worker", "beat"):
        sys.exit("usage: python -m healthcheck web|ready|worker|beat")
    urls = {"web": LIVENESS, "ready": READINESS}
    problem = check_web(urls[role]) if role in urls else check(role)
    if problem:
        sys.exit(problem)
