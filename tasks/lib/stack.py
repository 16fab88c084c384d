"""Where things are and which stack a command talks to.

The one place that knows the repository root, the env file, the compose file
and project name for each environment, and whether a usable Docker engine is
here. Nothing here runs at import time beyond path arithmetic, so
`inv --list` and tab completion stay fast.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import secrets
import shlex
import shutil
import sys
from collections.abc import Set
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from invoke.exceptions import Exit

from . import deploys, run
from .cli import ENVIRONMENTS
from .run import ROOT

# One env file per environment, each created from its own documented example,
# so dev and prod never read each other's settings.
ENV_FILES = {"dev": ".env", "prod": ".env.prod"}
SETTINGS = {"dev": "config.settings.local", "prod": "config.settings.production"}
START_TASKS = {"dev": "dev.up", "prod": "prod.deploy"}  # what starts each stack, for messages
APP_SERVICES = ("web", "worker", "beat")
# Values an env file gets freshly generated when it is created from its example.
GENERATED = {"dev": ("SECRET_KEY",), "prod": ()}
# Prod keeps these out of .env.prod: one file each in SECRETS_DIR, passed to
# containers as compose secrets (prodplans.ensure_secrets makes them); then pgBackRest's key and monitoring's.
SECRET_NAMES = ("SECRET_KEY", "POSTGRES_PASSWORD", "APP_DB_PASSWORD", "REDIS_PASSWORD", "EMAIL_URL")
SECRET_NAMES += ("BACKUP_CIPHER_PASS", "MONITOR_DB_PASSWORD", "ALERT_WEBHOOK_URL", "FLOWER_PASSWORD")


def env_file(env: str) -> Path:
    """The env file compose and Django read for `env`; $DESIDELIVER_ENV_FILE points both at one file."""
    return Path(os.environ.get("DESIDELIVER_ENV_FILE", ROOT / ENV_FILES[env])).resolve()


def env_example(env: str) -> Path:
    return ROOT / f"{ENV_FILES[env]}.example"


def python() -> str:
    """The interpreter running Invoke: the `.venv` one when started via ./inv."""
    return shlex.quote(sys.executable)


def manage(*args: str) -> str:
    """A host-side `manage.py` command line."""
    return f"{python()} src/manage.py {shlex.join(args)}".strip()


def tool(name: str) -> str:
    """A command-line tool installed in the venv running Invoke (hadolint, compose-lint, ...)."""
    return shlex.quote(str(Path(sys.executable).parent / name))


def new_secret_key() -> str:
    return secrets.token_urlsafe(50)


def create_env_file(env: str, target: Path | None = None) -> bool:
    """Copy `env`'s example to its env file with fresh secrets; False if the file exists."""
    target = target or env_file(env)
    if target.exists():
        return False
    example = env_example(env)
    fresh = GENERATED[env]
    lines = [
        f"{line.partition('=')[0]}={new_secret_key()}" if line.partition("=")[0] in fresh else line
        for line in example.read_text().splitlines()
    ]
    target.write_text("\n".join(lines) + "\n")
    target.chmod(0o600)
    shown = target.relative_to(ROOT) if target.is_relative_to(ROOT) else target
    print(f"Created {shown} from {example.name}" + (f" with a fresh {', '.join(fresh)}." if fresh else "."))
    return True


def env_values(path: Path) -> dict[str, str]:
    """KEY=VALUE pairs of an env file (comments and blank lines skipped); {} when absent."""
    if not path.is_file():
        return {}
    values = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key and not key.startswith("#"):
            values[key.strip()] = value.strip().strip("'\"")
    return values


def setting(env: str, name: str, default: str = "") -> str:
    """A variable as `env`'s compose sees it: the process environment first, then its env file."""
    return os.environ.get(name) or env_values(env_file(env)).get(name, default)


def whole_number_setting(env: str, name: str, default: int, low: int = 0) -> int:
    """An integer setting, or one line naming the variable and the file to fix."""
    value = setting(env, name, str(default))
    if not value.isdigit() or int(value) < low:
        raise Exit(f"✗ {name}={value!r} in {env_file(env).name} must be a whole number >= {low}; fix it and retry.", 2)
    return int(value)


def docker_problem() -> str | None:
    """Why Docker cannot be used here, or None when engine and compose plugin work."""
    if shutil.which("docker") is None:
        return "the docker command is not installed"
    try:
        info = run.run("docker info", step="docker info", capture=True, check=False, timeout=15)
        if info.returncode != 0:
            if "permission denied" in info.stderr.lower():
                return (
                    "this user may not use the Docker engine (permission denied on its socket; join the docker group)"
                )
            return "the Docker engine is not running (docker info failed)"
        compose = run.run(
            "docker compose version", step="docker compose version", capture=True, check=False, timeout=15
        )
    except Exit:
        return "the Docker engine did not answer within 15 s"
    if compose.returncode != 0:
        return "the docker compose v2 plugin is not installed"
    return None


def backups_dir() -> Path:
    """Where every environment's backups go: $BACKUP_DIR from the shell, default backups/.

    A shell setting, not an env-file one: one directory holds the dumps of every
    environment (each file names its own), so db.backups can list them all.
    """
    return (ROOT / os.environ.get("BACKUP_DIR", "backups")).resolve()


def host_ids() -> dict[str, str]:
    """The user the dev containers and the backup service run as: the caller, unless HOST_UID/GID say."""
    return {
        "HOST_UID": os.environ.get("HOST_UID", str(os.getuid())),
        "HOST_GID": os.environ.get("HOST_GID", str(os.getgid())),
    }


# The nginx image's user: the proxy runs as it when ./inv runs as root.
NGINX_ID = 101


def tls_dir() -> Path:
    """Where the prod proxy's certificate and key live: TLS_DIR in .env.prod, default certs/."""
    return (ROOT / setting("prod", "TLS_DIR", "certs")).resolve()


def secrets_dir() -> Path:
    """Where prod's secrets live, one file each: SECRETS_DIR in .env.prod, default secrets/."""
    return (ROOT / setting("prod", "SECRETS_DIR", "secrets")).resolve()


def secret(name: str) -> str:
    """A prod secret's value from its file, or "" when it has none yet."""
    path = secrets_dir() / name.lower()
    return path.read_text().strip() if path.is_file() else ""


def proxy_ids() -> dict[str, str]:
    """The proxy's user: the caller (who owns the key), or nginx's when the caller is root (never uid/gid 0)."""
    uid, gid = os.getuid(), os.getgid()
    return {"PROXY_UID": str(uid or NGINX_ID), "PROXY_GID": str(gid or NGINX_ID)}


# A name chosen in the shell for this checkout's stacks; each environment appends its own.
PROJECT_VARIABLE = "COMPOSE_PROJECT_NAME"
# Every compose command names its project with --project-name, which compose prefers
# to this variable anyway; withheld, no command sees a name that is not its own.
run.WITHHELD.add(PROJECT_VARIABLE)


def project_name(env: str, name: str = "") -> str:
    """`env`'s compose project: `<name>-<env>`, or `desideliver-<env>-<hash of the checkout path>`.

    Explicit and unique per checkout, so two clones never share containers or
    volumes; always `env`'s own, so one name in the shell can never make dev and
    prod one project (each `down --volumes` would delete the other's database).
    """
    if name:
        return f"{name}-{env}"
    digest = hashlib.sha256(str(ROOT).encode()).hexdigest()[:6]
    return f"desideliver-{env}-{digest}"


def compose_environment() -> dict[str, str]:
    """Variables every command gets on top of the process environment (computed per command)."""
    return {
        **host_ids(),
        **proxy_ids(),
        "TLS_PATH": str(tls_dir()),
        "SECRETS_PATH": str(secrets_dir()),
        # The request path may use every core (compose/prod: CPU limits).
        "HOST_CPUS": os.environ.get("HOST_CPUS") or str(os.cpu_count() or 2),
        # Absolute, so the backup service mounts the directory db.backups lists.
        "BACKUP_PATH": str(backups_dir()),
        # The prod images in service: what the last deploy recorded for this project.
        "IMAGE_TAG": os.environ.get("IMAGE_TAG") or deploys.current_tag(Stack("prod").project),
    }


run.BASE_ENV.append(compose_environment)


@dataclass(frozen=True)
class Stack:
    """One compose environment: `dev` or `prod`."""

    env: str

    @property
    def env_file(self) -> Path:
        return env_file(self.env)

    def setting(self, name: str, default: str = "") -> str:
        return setting(self.env, name, default)

    @property
    def compose_file(self) -> Path:
        return ROOT / "compose" / self.env / "compose.yaml"

    @property
    def project(self) -> str:
        return project_name(self.env, os.environ.get(PROJECT_VARIABLE, ""))

    def compose(self, *args: str, env_file: Path | None = None) -> str:
        """A `docker compose` command line for this stack (reading `env_file` instead of its own, if given)."""
        base = ["docker", "compose", "--project-name", self.project, "--project-directory"]
        base += [
            str(self.compose_file.parent),
            "--env-file",
            str(env_file or self.env_file),
            "-f",
            str(self.compose_file),
        ]
        return shlex.join([*base, *args])

    def exec(self, service: str, *command: str) -> str:
        """`command` in the running `service`, its input from ours (never a TTY)."""
        return self.compose("exec", "-T", service, *command)

    def start_hint(self) -> str:
        """What to do when the stack does not come up healthy."""
        return (
            f"see which service failed with ./inv {self.env}.ps, then its output with "
            f"./inv {self.env}.logs -s SERVICE --no-follow (docs/containers.md#troubleshooting)"
        )

    def running_services(self) -> set[str]:
        result = run.run(
            self.compose("ps", "--status", "running", "--services"), step="list", capture=True, check=False
        )
        return set(result.stdout.split()) if result.returncode == 0 else set()

    def is_running(self, service: str) -> bool:
        return service in self.running_services()

    def require_running(self, service: str, task: str, up: Set[str] | None = None) -> None:
        """Fail in seconds, creating nothing, when `service` is not up (`up`: running_services(), if just read)."""
        if service not in (self.running_services() if up is None else up):
            raise Exit(
                f"✗ {task} needs the {self.env} stack's {service} service, which is not running; "
                f"start the stack with ./inv {START_TASKS[self.env]}, then retry.",
                code=1,
            )

    def volume_exists(self, name: str) -> bool:
        """Whether this project's named volume exists (holds data even while the stack is stopped)."""
        found = run.run(
            f"docker volume inspect {shlex.quote(f'{self.project}_{name}')}", step="", capture=True, check=False
        )
        return found.returncode == 0


def stack(env: str) -> Stack:
    if env not in ENVIRONMENTS:
        raise Exit(f"✗ unknown environment {env!r}; use one of: {', '.join(ENVIRONMENTS)}.", code=2)
    return Stack(env)


def app_module(name: str) -> ModuleType:
    """A dependency-free module from src/ (e.g. healthcheck), without putting src/ on sys.path."""
    spec = importlib.util.spec_from_file_location(f"desideliver_{name}", ROOT / "src" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
