"""Replace the prod app containers with another image tag while serving.

Plain `docker compose up` removes a container before starting its successor.
For web, the rollout pins the proxy to the old containers' addresses, starts
the new container beside them (scale out with --no-recreate), waits until it
is healthy and ready, pins the proxy to it (a graceful nginx reload: requests
in flight finish where they are), lets the old containers drain, stops them
and lets it follow web's DNS again. A new container that never gets ready is removed
without having received a request. Worker, beat and the backup service have
no inbound traffic and are simply recreated. The proxy, the one published
port, is recreated only when its image really changed.
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

from . import journal
from .db.database import wait_ready
from .journal import UPSTREAM
from .run import output, run, say, shell
from .stack import Stack, app_module
from .tls import client_context

# Longer than Gunicorn's graceful_timeout (25 s), like the web service's stop_grace_period.
STOP_SECONDS = 35
# After the proxy's reload: its old workers finish what they sent to the old container.
DRAIN_SECONDS = 5


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


def front_address(s: Stack, container: str) -> str:
    """The container's address on the network the proxy reaches web by."""
    networks = json.loads(docker("inspect", container, "--format", "{{json .NetworkSettings.Networks}}"))
    return networks[f"{s.project}_front"]["IPAddress"]


def route(s: Stack, tag: str, addresses: list[str] | None) -> None:
    """Pin the proxy's upstream to `addresses` (a graceful reload), or let it follow `web`'s DNS again.

    docker/nginx/follow-web.sh follows the DNS unless the file `pinned` exists. The pin is noted first
    (journal.py): a run killed while it holds is undone by the next.
    """
    if addresses:
        journal.note(s, "a rollout", pinned=addresses)  # a run killed while pinned: the next one unpins
        servers = "".join(f"server {a}:8000;\n" for a in addresses)
        change = f"touch {UPSTREAM}/pinned && printf %s {shell(servers)} > {UPSTREAM}/servers.conf && nginx -t -q"
        change += " && nginx -s reload"
    else:
        change = f"rm -f {UPSTREAM}/pinned"
    for proxy in containers(s, tag, "proxy"):
        docker("exec", proxy, "sh", "-c", change)
    if not addresses:
        journal.forget(s, "pinned")


def replace_web(s: Stack, tag: str, timeout: int) -> None:
    """New web containers beside the old; traffic moves to them only once they are ready, then the old drain."""
    target = image_id(f"desideliver-django:{tag}")
    old = containers(s, tag, "web")
    if old and all(runs(c, target) for c in old):
        say(f"  web already runs :{tag}")
        return
    # Pinned to the old containers: the new one answers to `web` at once, but gets no traffic yet.
    route(s, tag, [front_address(s, c) for c in old])
    compose(s, tag, "up", "--detach", "--no-deps", "--no-recreate", "--scale", f"web={len(old) + 1}", "web")
    new = containers(s, tag, "web") - old
    try:
        wait_healthy(new, timeout)
        for container in new:
            wait_ready(shell("docker", "exec", container, "python", "-m", "healthcheck", "ready"))
    except Exit:
        for container in new:  # it never received traffic
            run(shell("docker", "rm", "--force", container), step="remove the failed web container", check=False)
        route(s, tag, None)  # following the DNS again: only the old containers answer to it now
        raise
    route(s, tag, [front_address(s, c) for c in new])
    say(f"  traffic moved to the new web container; draining {len(old)} old container(s) for {DRAIN_SECONDS}s")
    time.sleep(DRAIN_SECONDS)
    for container in old:
        docker("stop", "--time", str(STOP_SECONDS), container)
        docker("rm", container)
    route(s, tag, None)


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
    """Put every app service on `tag`, web without a gap and gated on readiness."""
    replace_web(s, tag, timeout)
    compose(s, tag, "up", "--detach", "--no-deps", "--wait", "--wait-timeout", str(timeout), "worker", "beat", "backup")
    # The database image has a tag of its own: pitr changes only when that image does.
    compose(s, tag, "up", "--detach", "--no-deps", "pitr")
    refresh_proxy(s, tag, timeout)
    say(f"  web, worker, beat, backup and proxy run :{tag}")


# Reads and writes: a POST is never retried by nginx once sent, so it is what a
# careless switch loses. Django answers POST on the liveness URL with 405.
PROBES = (("GET", "/api/v1/health/", 200), ("POST", "/api/v1/health/", 405))


@dataclass
class Availability:
    """Requests probed through the proxy while a deploy changes things."""

    sent: int = 0
    failed: int = 0
    first_failure: float | None = None
    last_failure: float | None = None

    def report(self) -> str:
        if not self.failed:
            return f"availability: {self.sent} of {self.sent} probes through the proxy (GET and POST) answered"
        window = (self.last_failure or 0) - (self.first_failure or 0)
        return (
            f"availability: {self.failed} of {self.sent} probes through the proxy (GET and POST) failed, "
            f"within a {window:.1f}s window"
        )


def status_of(url: str, headers: dict[str, str], method: str = "GET", timeout: float = 5) -> int:
    """The HTTP status of one request to the proxy on loopback (over TLS); OSError when none came."""
    body = b"" if method == "POST" else None
    request = urllib.request.Request(url, method=method, headers=headers, data=body)  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=client_context()) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def answered(base_url: str, headers: dict[str, str], method: str, path: str, expected: int) -> bool:
    try:
        return status_of(base_url + path, headers, method) == expected
    except OSError:  # urllib's URLError included
        return False


@contextmanager
def watching(base_url: str, headers: dict[str, str]) -> Iterator[Availability]:
    """Probe through the proxy every 0.2 s, reads and writes in turn, until the block ends (bounded: one deploy)."""
    stats, stop = Availability(), threading.Event()

    def probe() -> None:
        while not stop.wait(0.2):
            method, path, expected = PROBES[stats.sent % len(PROBES)]
            stats.sent += 1
            if not answered(base_url, headers, method, path, expected):
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


def base_url(s: Stack) -> str:
    """The proxy's TLS port on loopback."""
    return f"https://127.0.0.1:{s.setting('HTTPS_PORT', '443')}"


def proxy_headers(s: Stack) -> dict[str, str]:
    """What a client of the first allowed host sends."""
    return {"Host": app_module("healthcheck").probe_host(s.setting("ALLOWED_HOSTS"))}


def smoke_test(s: Stack, paths: tuple[str, ...] = ("/api/v1/health/ready/", "/api/v1/products/")) -> None:
    """GET each path through the proxy, over TLS, as a client of the first allowed host would."""
    for path in paths:
        try:
            status = status_of(base_url(s) + path, proxy_headers(s), timeout=10)
        except OSError as exc:
            raise Exit(f"✗ smoke test: GET {path} through the proxy failed: {exc}", code=1) from None
        if status != 200:
            raise Exit(f"✗ smoke test: GET {path} through the proxy answered {status}; see ./inv {s.env}.logs", code=1)
        say(f"✓ GET {path} through the proxy: {status}")
