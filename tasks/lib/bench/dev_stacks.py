"""./inv bench.load, last part: the Docker dev stack beside the native stack, one kept-alive connection, p50.

The same endpoints four ways, so that each cost has a figure of its own:

- the dev stack through its published port: what a browser on this host uses;
- the dev stack's web container at its own address: Docker without the
  published port's userland proxy (docker-proxy);
- native runserver on the dev stack's PostgreSQL and Redis, at their
  containers' addresses: the same backends as the container;
- native runserver on its embedded defaults (SQLite, process memory): what
  dev.up runs where Docker is absent.

The goal (within 10%) is Docker's own cost: Django in a container or on the
host, on the same backends. The other two columns show what the published
port and the choice of backends add.
"""

from __future__ import annotations

import json
import os
import shlex
import statistics
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from .. import stack as _stack
from ..compose import NATIVE_ENV
from ..run import output, say, shell
from . import throwaway
from .loadgen import combine, wrk
from .scenarios import verdict

PATHS = ("/api/v1/health/", "/api/v1/products/", "/api/v1/products/1/")
HEADERS = {"Host": "localhost"}  # one both stacks allow
COLUMNS = {
    "port": "Docker, published port",
    "container": "Docker, container address",
    "native-same": "native, same PG + Redis",
    "native": "native, SQLite + memory",
}


def container(project: str, service: str) -> str:
    """The id of `service`'s (first) running container in compose project `project`."""
    labels = f"label=com.docker.compose.project={project} --filter label=com.docker.compose.service={service}"
    return output(f"docker ps -q --filter {labels}", step=f"find {service}").split()[0]


def address(project: str, service: str) -> str:
    """The address of `service`'s container on its compose network."""
    networks = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"
    found = output(shell("docker", "inspect", "-f", networks, container(project, service)), step=f"{service}'s address")
    return found.split()[0]


def at(url: str, host: str) -> str:
    """`url` with its host replaced (user, password and port kept)."""
    parts = urlsplit(url)
    user, _, _ = parts.netloc.rpartition("@")
    netloc = f"{user}@{host}" if user else host
    return parts._replace(netloc=f"{netloc}:{parts.port}" if parts.port else netloc).geturl()


def same_backends(project: str) -> dict[str, str]:
    """The dev web container's database and cache settings, reaching them at their containers' addresses."""
    web = container(project, "web")
    variables = json.loads(output(shell("docker", "inspect", "-f", "{{json .Config.Env}}", web), step="web's env"))
    values = dict(line.split("=", 1) for line in variables)
    return {
        "DATABASE_URL": at(values["DATABASE_URL"], address(project, "db")),
        "DATABASE_PASSWORD": values.get("DATABASE_PASSWORD", ""),
        "REDIS_URL": at(values["REDIS_URL"], address(project, "redis")),
        "REDIS_PASSWORD": values.get("REDIS_PASSWORD", ""),
    }


def answers(url: str, seconds: float = 60) -> bool:
    """Whether `url` answers (any HTTP status) within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(urllib.request.Request(url, headers=HEADERS), timeout=2).close()  # noqa: S310
            return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            time.sleep(0.5)
    return False


@contextmanager
def native_server(port: int, env: dict[str, str]) -> Iterator[None]:
    """runserver on the host (local settings, no autoreload) with `env`, until the block ends."""
    command = shlex.split(_stack.manage("runserver", "--noreload", f"127.0.0.1:{port}"))
    server = subprocess.Popen(
        command, cwd=_stack.ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield
    finally:
        server.terminate()
        server.wait(timeout=30)


def p50_ms(base: str, path: str, seconds: float) -> float:
    return combine([wrk(base + path, connections=1, seconds=seconds, headers=HEADERS) for _ in range(3)]).p50_ms


def report(bases: dict[str, str], seconds: float) -> None:
    for base in bases.values():  # warm: imports, connections, caches
        wrk(base + PATHS[1], connections=1, seconds=2, headers=HEADERS)
    say(f"  {'':<22}" + "".join(f"{COLUMNS[k]:>28}" for k in bases))
    figures = {path: {k: p50_ms(base, path, seconds) for k, base in bases.items()} for path in PATHS}
    for path, row in figures.items():
        say(f"  {path:<22}" + "".join(f"{row[k]:>25.2f} ms" for k in bases))
    if "container" in bases:
        for path, row in figures.items():
            ratio = row["container"] / row["native-same"]
            say(f"  {verdict(ratio <= 1.1)}  {path}: Django in a container vs on the host, same PostgreSQL and "
                f"Redis: {ratio:.2f}x (goal within 10%)")  # fmt: skip
        proxy = statistics.median(row["port"] - row["container"] for row in figures.values())
        backends = statistics.median(row["native-same"] - row["native"] for row in figures.values())
        say(f"  the published port's userland proxy adds {proxy:.2f} ms; PostgreSQL and Redis over the network "
            f"instead of SQLite and process memory add {backends:.2f} ms (medians over the paths)")  # fmt: skip
    for path, row in figures.items():
        say(f"  what a developer sees, {path}: the Docker dev stack through its port vs native on its defaults: "
            f"{row['port'] / row['native']:.2f}x ({row['port'] - row['native']:+.2f} ms)")  # fmt: skip


def docker_vs_native(seconds: float, inv: Callable[..., float]) -> None:
    """Start a throwaway dev stack (`inv`: ./inv against it) and two native servers; print the comparison."""
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        env_file = throwaway.env_file(workdir, "dev")
        name = f"bench-{uuid.uuid4().hex[:6]}"
        project = _stack.project_name("dev", name)
        env = {"DESIDELIVER_ENV_FILE": str(env_file), _stack.PROJECT_VARIABLE: name, "BACKUP_DIR": str(workdir)}
        native = {
            **NATIVE_ENV,
            "DJANGO_READ_DOT_ENV": "false",
            "SECRET_KEY": _stack.new_secret_key(),
            "DATABASE_URL": f"sqlite:///{workdir / 'native.sqlite3'}",
            "REDIS_URL": "",
        }
        ports = {"native": throwaway.free_port(), "native-same": throwaway.free_port()}
        say("\nDocker dev stack vs native stack (runserver, local settings), one kept-alive connection, p50:")
        try:
            inv("dev.up", "--docker", env=env)
            for command in (("migrate", "--noinput"), ("load_demo_data",)):
                output(_stack.manage(*command), step=f"native {command[0]}", env=native, timeout=300)
            bases = {"port": f"http://127.0.0.1:{_stack.env_values(env_file)['WEB_PORT']}"}
            container = f"http://{address(project, 'web')}:8000"
            reachable = answers(container + PATHS[0], seconds=5)
            with ExitStack() as servers:
                servers.enter_context(native_server(ports["native"], native))
                if reachable:
                    servers.enter_context(native_server(ports["native-same"], {**native, **same_backends(project)}))
                    bases |= {"container": container, "native-same": f"http://127.0.0.1:{ports['native-same']}"}
                else:
                    say("  (the containers' addresses are not reachable from this host, e.g. Docker Desktop's VM: "
                        "only the published port and the embedded defaults)")  # fmt: skip
                bases["native"] = f"http://127.0.0.1:{ports['native']}"
                for base in bases.values():
                    if not answers(base + PATHS[0]):
                        say(f"  ✗ {base} did not answer within 60 s; no comparison")
                        return
                report(bases, seconds)
        finally:
            inv("dev.down", "--volumes", "--yes", env=env)
