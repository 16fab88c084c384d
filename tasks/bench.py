"""Benchmarks as printed figures: image sizes, build times, dev.up time, idle memory (run); serving (load)."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from invoke import Context
from invoke.exceptions import Exit

from .lib import stack as _stack
from .lib.bench import backup_restore, catalogue, dev_stacks, monitoring_cost, scenarios, throwaway
from .lib.cli import task, whole_numbers
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
        for env_name in ("dev", "prod"):
            env_file = throwaway.env_file(Path(tmp), env_name)
            env = {"DESIDELIVER_ENV_FILE": str(env_file), _stack.PROJECT_VARIABLE: tag}
            try:
                inv(
                    _stack.START_TASKS[env_name],
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
                    (f"{env_name} stack idle memory", f"{stack_memory_mb(_stack.project_name(env_name, tag)):.0f} MB")
                )
            finally:
                # Through inv, so the bench's own project and env file are used.
                inv(f"{env_name}.down", "--volumes", "--yes", env=env)

    width = max(len(name) for name, _ in figures)
    say("\nDesiDeliver benchmarks (budgets: " + "; ".join(f"{k} {v}" for k, v in BUDGETS.items()) + ")")
    for name, value in figures:
        say(f"  {name:<{width}}  {value}")


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


@contextmanager
def targeting(env: dict[str, str]) -> Iterator[None]:
    """Point every stack command of this process at the benchmark's own project and env file."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def timed_inv(env: dict[str, str]) -> Callable[..., tuple[float, str]]:
    """`inv ARGS` against the benchmark's stack: (wall seconds, output)."""

    def call(*args: str) -> tuple[float, str]:
        command = shlex.join([sys.executable, "-m", "invoke", "--search-root", str(_stack.ROOT), *args])
        started = time.monotonic()
        out = output(command, step=f"inv {' '.join(args)}", env=env, timeout=1800)
        return time.monotonic() - started, out

    return call


def load_benchmark(short: bool, sizes: list[int], users: int, buyers: int, rows: int, monitoring: bool) -> None:
    if shutil.which("wrk") is None:
        raise Exit("✗ bench.load needs wrk, the HTTP load generator: apt-get install wrk (Debian), then retry.", 2)
    runs, seconds = (5, 1) if short else (5, 5)
    cores = os.cpu_count() or 2
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        # Shoppers who add and order again and again: no per-account or per-line limits, no login throttle
        # (else "add to cart" would measure the limit's 400s once every line holds MAX_LINE_QUANTITY).
        overrides = {
            "AUTH_THROTTLE_RATE": "100000/minute",
            "JWT_ACCESS_MINUTES": "240",
            "HTTP_BIND": "127.0.0.1",
            "MAX_LINE_QUANTITY": "1000000000",
            "MAX_OPEN_ORDERS": "1000000000",
            "MAX_ORDER_UNITS": "1000000000",
            # On for --monitoring's second half only (monitoring_cost).
            "MONITORING": "off",
        }
        env_file = throwaway.env_file(workdir, "prod", **overrides)
        name = f"bench-load-{uuid.uuid4().hex[:6]}"
        env = {
            "DESIDELIVER_ENV_FILE": str(env_file),
            _stack.PROJECT_VARIABLE: name,
            "BACKUP_DIR": str(workdir / "backups"),
        }
        port = int(_stack.env_values(env_file)["HTTPS_PORT"])
        # Pinning wrk away from the stack halves the stack's cores on a small host: only with cores to spare.
        bench = scenarios.Bench(
            _stack.stack("prod"), port, runs, seconds, workdir, cpus=str(cores - 1) if cores >= 4 else ""
        )
        try:
            say(f"Deploying the prod stack as {_stack.project_name('prod', name)} (port {port}) ...")
            inv("prod.deploy", "--tag", name, env=env)
            with targeting(env):
                if monitoring:
                    monitoring_cost.compare(bench, sizes[-1], users, buyers, lambda: turn_on(env_file, env, name))
                    return
                catalogue.report([catalogue.measure_size(bench, size, users) for size in sizes])
                scenarios.measure_all(bench, sizes[-1], users, buyers, cores)
                if rows:
                    backup_restore.operations(bench, rows, timed_inv(env))
        finally:
            inv("prod.down", "--volumes", "--yes", env=env)
    dev_stacks.docker_vs_native(seconds, inv)


def turn_on(env_file: Path, env: dict[str, str], tag: str) -> None:
    """MONITORING=on in the benchmark's env file, and the same deploy again (what an operator does)."""
    text = env_file.read_text()
    if "\nMONITORING=off\n" not in text:
        raise Exit(f"✗ bench.load --monitoring: no MONITORING=off line in {env_file} to turn on", 1)
    env_file.write_text(text.replace("\nMONITORING=off\n", "\nMONITORING=on\n"))
    inv("prod.deploy", "--tag", tag, env=env)


@task(
    help={
        "short": "Five 1-second runs per scenario instead of five 5-second runs, for CI (default: off).",
        "products": "Products in the benchmark catalogue, in 20 categories (default: 2000); several sizes, "
        "comma-separated (2000,200000,1000000), print a column each for what the proxy cache cannot serve, and "
        "the rest at the largest.",
        "users": "Shoppers with tokens (default: 300).",
        "buyers": "Concurrent buyers in the checkout scenario (default: 50).",
        "rows": "Rows to add before timing backup and restore (default: 1000000; 0 skips them).",
        "monitoring": "Measure only what monitoring costs: the cached list, the list past the proxy cache and "
        "checkout with MONITORING off, then on, on one stack (budget 5%; default: off).",
        "dry_run": DRY_RUN_HELP,
    }
)
def load(
    c: Context,
    short: bool = False,
    products: str = "2000",
    users: int = 300,
    buyers: int = 50,
    rows: int = 1_000_000,
    monitoring: bool = False,
    dry_run: bool = False,
) -> None:
    """Load benchmark: the prod stack (own project) under wrk through the proxy, beside its ceilings and budgets."""
    sizes = whole_numbers("products", products)
    what = "deploy a throwaway prod stack, seed it, run wrk and the checkout buyers, print figures, remove it"
    execute(
        [Step("load benchmark", what, action=lambda: load_benchmark(short, sizes, users, buyers, rows, monitoring))],
        dry_run,
    )
