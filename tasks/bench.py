"""Benchmarks: image sizes, build times, dev.up time and idle memory, as figures."""

from __future__ import annotations

import shlex
import sys
import tempfile
import time
import uuid
from pathlib import Path

from invoke import Context

from .lib import stack as _stack
from .lib.cli import task
from .lib.run import DRY_RUN_HELP, Step, execute, output, say
from .lib.run import run as run_command

DOCKERFILE = "docker/django/Dockerfile"
# Budgets from the issue that introduced the containers.
BUDGETS = {"prod image": "≤ 220 MB (aim 200)", "dev.up warm": "≤ 30 s (aim 15)", "dev idle": "< 1 GB"}


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    """Run `command` quietly; return its wall time in seconds, or fail with its output."""
    started = time.monotonic()
    run_command(shlex.join(command), step=f"time {shlex.join(command[:4])}", capture=True, env=env)
    return time.monotonic() - started


def image_mb(image: str) -> float:
    return (
        int(output(shlex.join(["docker", "image", "inspect", image, "--format", "{{.Size}}"]), step="image size")) / 1e6
    )


def stack_memory_mb(project: str) -> float:
    ids = output(f"docker ps -q --filter label=com.docker.compose.project={project}", step="list containers").split()
    stats = output(
        shlex.join(["docker", "stats", "--no-stream", "--format", "{{.MemUsage}}", *ids]), step="memory use"
    ).splitlines()
    units = {"B": 1e-6, "KiB": 1.024e-3, "MiB": 1.048576, "GiB": 1073.741824}
    total = 0.0
    for line in stats:
        used = line.split("/")[0].strip()
        number = used.rstrip("KMGiB")
        total += float(number) * units[used[len(number) :]]
    return total


def inv(*args: str, env: dict[str, str]) -> float:
    return timed([sys.executable, "-m", "invoke", "--search-root", str(_stack.ROOT), *args], env=env)


def measure(cold: bool) -> None:
    figures: list[tuple[str, str]] = []
    tag = f"bench-{uuid.uuid4().hex[:6]}"
    for target in ("prod", "dev"):
        image = f"desideliver-django:{tag}-{target}"
        build = ["docker", "build", "-q", "-f", DOCKERFILE, "--target", target, "-t", image, "."]
        if cold:
            figures.append((f"{target} build, cold (no cache)", f"{timed([*build, '--no-cache']):.1f} s"))
        timed(build)
        probe = _stack.ROOT / "src" / "bench_probe.py"
        probe.write_text(f"# {uuid.uuid4()}\n")  # a code change: what a developer's rebuild sees
        try:
            figures.append((f"{target} build, warm (one source file changed)", f"{timed(build):.1f} s"))
        finally:
            probe.unlink()
        figures.append((f"{target} image size", f"{image_mb(image):.0f} MB"))
        run_command(f"docker rmi {image}", step="remove the bench image", capture=True, check=False)

    with tempfile.TemporaryDirectory() as tmp:
        env_file = Path(tmp) / "bench.env"
        env_file.write_text(
            _stack.ENV_EXAMPLE.read_text().replace(
                "SECRET_KEY=change-me-dev.up-generates-a-fresh-one", f"SECRET_KEY={_stack.new_secret_key()}"
            )
        )
        ports = {v: str(_free_port()) for v in ("WEB_PORT", "POSTGRES_HOST_PORT", "REDIS_HOST_PORT", "HTTP_PORT")}
        for key, value in {**ports, "ALLOWED_HOSTS": "localhost", "SECURE_SSL_REDIRECT": "true"}.items():
            env_file.write_text(env_file.read_text() + f"{key}={value}\n")
        for env_name in ("dev", "prod"):
            env = {"DESIDELIVER_ENV_FILE": str(env_file), "COMPOSE_PROJECT_NAME": f"bench-{env_name}-{tag}"}
            try:
                inv(
                    f"{env_name}.{'up' if env_name == 'dev' else 'deploy'}",
                    *(["--docker"] * (env_name == "dev")),
                    env=env,
                )
                if env_name == "dev":
                    inv("dev.down", env=env)
                    figures.append(
                        ("dev.up warm (images built) to all healthy", f"{inv('dev.up', '--docker', env=env):.1f} s")
                    )
                time.sleep(20)  # let start-up settle before reading idle memory
                figures.append(
                    (f"{env_name} stack idle memory", f"{stack_memory_mb(env['COMPOSE_PROJECT_NAME']):.0f} MB")
                )
            finally:
                # Through inv, so the bench's own project and env file are used.
                inv(f"{env_name}.down", "--volumes", "--yes", env=env)

    width = max(len(name) for name, _ in figures)
    say("\nDesiDeliver benchmarks (budgets: " + "; ".join(f"{k} {v}" for k, v in BUDGETS.items()) + ")")
    for name, value in figures:
        say(f"  {name:<{width}}  {value}")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@task(
    default=True,
    help={
        "cold": "Also time builds without the layer cache (default: on; --no-cold skips them, saving minutes).",
        "dry_run": DRY_RUN_HELP,
    },
)
def run(c: Context, cold: bool = True, dry_run: bool = False) -> None:
    """Print image sizes, build times, warm dev.up time and idle memory of the stacks (own compose projects)."""
    execute([Step("measure", "build, start and measure throwaway stacks", action=lambda: measure(cold))], dry_run)
