"""Where things are and which stack a command talks to.

The one place that knows the repository root, the env file, the compose file
and project name for each environment, and whether a usable Docker engine is
here. Nothing in this module runs at import time beyond path arithmetic, so
`inv --list` and tab completion stay fast.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from invoke.exceptions import Exit

ROOT = Path(__file__).resolve().parent.parent
ENV_EXAMPLE = ROOT / ".env.example"
ENVIRONMENTS = ("dev", "prod")
SETTINGS = {"dev": "config.settings.local", "prod": "config.settings.production"}


def env_file() -> Path:
    """The env file compose and Django read: `.env`, or $DESIDELIVER_ENV_FILE."""
    return Path(os.environ.get("DESIDELIVER_ENV_FILE", ROOT / ".env")).resolve()


def python() -> str:
    """The interpreter running Invoke: the `.venv` one when started via ./inv."""
    return shlex.quote(sys.executable)


def manage(*args: str) -> str:
    """A host-side `manage.py` command line."""
    return f"{python()} src/manage.py {shlex.join(args)}".strip()


def new_secret_key() -> str:
    return secrets.token_urlsafe(50)


def create_env_file(target: Path | None = None) -> bool:
    """Copy .env.example to the env file with a fresh SECRET_KEY; False if it exists."""
    target = target or env_file()
    if target.exists():
        return False
    lines = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.startswith("SECRET_KEY="):
            line = f"SECRET_KEY={new_secret_key()}"
        lines.append(line)
    target.write_text("\n".join(lines) + "\n")
    target.chmod(0o600)
    print(
        f"Created {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target} "
        "from .env.example with a fresh SECRET_KEY."
    )
    return True


def docker_problem() -> str | None:
    """Why Docker cannot be used here, or None when engine and compose plugin work."""
    if shutil.which("docker") is None:
        return "the docker command is not installed"
    try:
        info = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True, timeout=15
        )
    except subprocess.TimeoutExpired:
        return "the Docker engine did not answer within 15 s"
    if info.returncode != 0:
        return "the Docker engine is not running (docker info failed)"
    compose = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, timeout=15)
    if compose.returncode != 0:
        return "the docker compose v2 plugin is not installed"
    return None


def compose_environment() -> dict[str, str]:
    """Variables every compose command gets (computed when a command runs, never at import).

    Only what compose needs on top of the process environment; `compose_process_env` is the whole.
    """
    return {
        # The dev containers and the prod backup service run as this user.
        "HOST_UID": os.environ.get("HOST_UID", str(os.getuid())),
        "HOST_GID": os.environ.get("HOST_GID", str(os.getgid())),
        # Absolute, so the prod backup service mounts the directory db.backups lists.
        "BACKUP_PATH": str(backups_dir()),
        # The prod images in service: what the last deploy recorded for this project.
        "IMAGE_TAG": os.environ.get("IMAGE_TAG") or deployed(stack("prod")).get("current") or git_revision(),
    }


def compose_process_env(**extra: str) -> dict[str, str]:
    """The full environment a compose command runs in: ours, plus compose_environment, plus `extra`."""
    return {**os.environ, **compose_environment(), **extra}


@dataclass(frozen=True)
class Stack:
    """One compose environment: `dev` or `prod`."""

    env: str

    @property
    def compose_file(self) -> Path:
        return ROOT / "compose" / self.env / "compose.yaml"

    @property
    def project(self) -> str:
        """Explicit and unique per checkout, so two clones never share containers or volumes."""
        if name := os.environ.get("COMPOSE_PROJECT_NAME"):
            return name
        digest = hashlib.sha256(str(ROOT).encode()).hexdigest()[:6]
        return f"desideliver-{self.env}-{digest}"

    def compose(self, *args: str) -> str:
        """A `docker compose` command line for this stack."""
        base = [
            "docker",
            "compose",
            "--project-name",
            self.project,
            "--project-directory",
            str(self.compose_file.parent),
            "--env-file",
            str(env_file()),
            "-f",
            str(self.compose_file),
        ]
        return shlex.join([*base, *args])


def start_hint(s: Stack) -> str:
    """What to do when a stack does not come up healthy."""
    return (
        f"see which service failed with ./inv {s.env}.ps, then its output with "
        f"./inv {s.env}.logs -s SERVICE --no-follow (docs/containers.md#troubleshooting)"
    )


def stack(env: str) -> Stack:
    if env not in ENVIRONMENTS:
        raise ValueError(f"unknown environment {env!r}; expected one of {', '.join(ENVIRONMENTS)}")
    return Stack(env)


# Host ports the dev stack publishes, with the .env variable that moves each.
DEV_PORTS = {"WEB_PORT": 8000, "POSTGRES_HOST_PORT": 5432, "REDIS_HOST_PORT": 6379}


def env_values(path: Path | None = None) -> dict[str, str]:
    """KEY=VALUE pairs of the env file (comments and blank lines skipped); {} when absent."""
    path = path or env_file()
    if not path.exists():
        return {}
    values = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key and not key.startswith("#"):
            values[key.strip()] = value.strip().strip("'\"")
    return values


def setting(name: str, default: str = "") -> str:
    """A variable as compose sees it: the process environment first, then the env file."""
    return os.environ.get(name) or env_values().get(name, default)


def running_services(s: Stack) -> set[str]:
    result = subprocess.run(
        shlex.split(s.compose("ps", "--status", "running", "--services")),
        capture_output=True,
        text=True,
        env=compose_process_env(),
    )
    return set(result.stdout.split()) if result.returncode == 0 else set()


def is_running(s: Stack, service: str) -> bool:
    return service in running_services(s)


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def check_ports(s: Stack) -> None:
    """Fail with the port and the variable to change when a dev port is taken (prod publishes one, via `up`)."""
    if running_services(s):
        return  # our own containers hold the ports; `up` will reconcile them
    for variable, default in DEV_PORTS.items():
        port = int(setting(variable, str(default)))
        if port_in_use(port):
            raise Exit(
                f"✗ port {port} ({variable}) is already in use on this machine. Stop what listens there "
                f"(find it with: ss -ltnp 'sport = :{port}') or set {variable} to a free port in "
                f"{env_file().name}, then run the command again.",
                code=1,
            )


def urls(s: Stack) -> str:
    if s.env == "dev":
        base = f"http://localhost:{setting('WEB_PORT', '8000')}"
    else:
        base = f"http://localhost:{setting('HTTP_PORT', '8080')}"
    return "\n".join(
        [
            f"✓ The {s.env} stack is up (compose project {s.project}).",
            f"  API:    {base}/api/v1/",
            f"  Docs:   {base}/api/v1/docs/",
            f"  Admin:  {base}/admin/",
            f"  Health: {base}/api/v1/health/ready/",
        ]
    )


@functools.cache
def git_revision() -> str:
    """Short git revision of the checkout, with `-dirty` when files changed (asked once per run)."""

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)

    rev = git("rev-parse", "--short=12", "HEAD")
    if rev.returncode != 0:
        return "unversioned"
    dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
    return rev.stdout.strip() + ("-dirty" if dirty else "")


def deploy_record(s: Stack) -> Path:
    return ROOT / "var" / "deploy" / f"{s.project}.json"


def deployed(s: Stack) -> dict[str, str]:
    """{"current": tag, "previous": tag} as recorded by prod.deploy; {} before the first deploy."""
    path = deploy_record(s)
    return json.loads(path.read_text()) if path.exists() else {}


def record_deploy(s: Stack, tag: str) -> None:
    """Remember `tag` as in service, and what it replaced (for prod.rollback)."""
    old = deployed(s)
    before = old.get("current")
    path = deploy_record(s)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"current": tag, "previous": before if before and before != tag else old.get("previous", "")}
    path.write_text(json.dumps(record) + "\n")


def backups_dir() -> Path:
    """Where backups go: BACKUP_DIR from the environment or env file, default backups/."""
    return (ROOT / setting("BACKUP_DIR", "backups")).resolve()


def tool(name: str) -> str:
    """A command-line tool installed in the venv running Invoke (hadolint, compose-lint, ...)."""
    return shlex.quote(str(Path(sys.executable).parent / name))


def app_module(name: str):
    """A dependency-free module from src/ (e.g. healthcheck), without putting src/ on sys.path."""
    spec = importlib.util.spec_from_file_location(f"desideliver_{name}", ROOT / "src" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
