"""Replace the prod app containers with another image tag while serving.

Plain `docker compose up` removes a container before starting its successor.
For web, this starts the new container beside the old one (scale out with
--no-recreate), waits until it is healthy (nginx re-resolves `web` every 5 s
and retries another container on errors), then stops the old one gracefully
and removes it: the approach of docker-rollout. Worker, beat and the backup
service have no inbound traffic and are simply recreated. The proxy, the one
published port, is recreated only when its image really changed.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from invoke.exceptions import Exit

from .database import wait_ready
from .run import output, run, say, shell
from .stack import Stack

# Longer than Gunicorn's graceful_timeout (25 s), like the web service's stop_grace_period.
STOP_SECONDS = 35


def compose(s: Stack, tag: str, *args: str) -> str:
    return output(s.compose(*args), step=f"docker compose {' '.join(args)}", env={"IMAGE_TAG": tag}, timeout=900)


def docker(*args: str) -> str:
    return output(shell("docker", *args), step=f"docker {args[0]} {args[1] if len(args) > 1 else ''}".strip())


def containers(s: Stack, tag: str, service: str) -> set[str]:
    return set(compose(s, tag, "ps", "-q", service).split())


def image_id(reference: str) -> str:
    return docker("image", "inspect", reference, "--format", "{{.Id}}")


def runs(container: str, image: str) -> bool:
    return docker("inspect", container, "--format", "{{.Image}}") == image


def health(container: str) -> tuple[str, str]:
    state = json.loads(docker("inspect", container, "--format", "{{json .State}}"))
    log = (state.get("Health") or {}).get("Log") or [{}]
    return (state.get("Health") or {}).get("Status", state.get("Status", "?")), log[-1].get("Output", "").strip()


def wait_healthy(new: set[str], timeout: int) -> None:
    deadline = time.monotonic() + timeout
    while True:
        states = {c: health(c) for c in new}
        if all(status == "healthy" for status, _ in states.values()):
            return
        broken = {c: out for c, (status, out) in states.items() if status in ("unhealthy", "exited", "dead")}
        if broken or time.monotonic() > deadline:
            why = next(iter(broken.values()), "") or "not healthy in time"
            raise Exit(f"✗ the new web container did not become healthy: {why[-300:]}", code=1)
        time.sleep(1)


def replace_web(s: Stack, tag: str, timeout: int) -> None:
    target = image_id(f"desideliver-django:{tag}")
    old = containers(s, tag, "web")
    if old and all(runs(c, target) for c in old):
        say(f"  web already runs :{tag}")
        return
    compose(s, tag, "up", "--detach", "--no-deps", "--no-recreate", "--scale", f"web={len(old) + 1}", "web")
    new = containers(s, tag, "web") - old
    try:
        wait_healthy(new, timeout)
    except Exit:
        for container in new:  # the old container never stopped serving
            run(shell("docker", "stop", "--time", "5", container), step="stop the failed web container", check=False)
            run(shell("docker", "rm", "--force", container), step="remove the failed web container", check=False)
        raise
    say(f"  new web container healthy beside the old one; retiring {len(old)} old container(s)")
    for container in old:
        docker("stop", "--time", str(STOP_SECONDS), container)
        docker("rm", container)


def layers(image: str) -> str:
    return docker("image", "inspect", image, "--format", "{{json .RootFS.Layers}}")


def refresh_proxy(s: Stack, tag: str, timeout: int) -> None:
    running = containers(s, tag, "proxy")
    # Compared by filesystem layers: the revision label alone makes every tag a
    # new image, and recreating the proxy closes the published port briefly.
    wanted = layers(f"desideliver-proxy:{tag}")
    if running and all(layers(docker("inspect", c, "--format", "{{.Image}}")) == wanted for c in running):
        return
    compose(s, tag, "up", "--detach", "--no-deps", "--wait", "--wait-timeout", str(timeout), "proxy")


def rollout(s: Stack, tag: str, timeout: int) -> None:
    """Put every app service on `tag`, web without a gap, then gate on readiness."""
    replace_web(s, tag, timeout)
    compose(s, tag, "up", "--detach", "--no-deps", "--wait", "--wait-timeout", str(timeout), "worker", "beat", "backup")
    refresh_proxy(s, tag, timeout)
    wait_ready(s)
    say(f"  web, worker, beat, backup and proxy run :{tag}")


@dataclass
class Availability:
    """Requests probed through the proxy while a deploy changes things."""

    sent: int = 0
    failed: int = 0
    first_failure: float | None = None
    last_failure: float | None = None

    def report(self) -> str:
        if not self.failed:
            return f"availability: {self.sent} of {self.sent} probes through the proxy answered 200"
        window = (self.last_failure or 0) - (self.first_failure or 0)
        return (
            f"availability: {self.failed} of {self.sent} probes through the proxy failed, within a {window:.1f}s window"
        )


@contextmanager
def watching(url: str, headers: dict[str, str]) -> Iterator[Availability]:
    """Probe `url` every 0.2 s in the background until the block ends (bounded: one deploy)."""
    stats, stop = Availability(), threading.Event()

    def probe() -> None:
        while not stop.wait(0.2):
            stats.sent += 1
            try:
                request = urllib.request.Request(url, headers=headers)  # noqa: S310 - local http URL
                with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                    ok = response.status == 200
            except (urllib.error.URLError, OSError):
                ok = False
            if not ok:
                now = time.monotonic()
                stats.failed += 1
                stats.first_failure = stats.first_failure or now
                stats.last_failure = now

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    try:
        yield stats
    finally:
        stop.set()
        thread.join(timeout=10)
