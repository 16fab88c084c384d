"""Throwaway stacks for the benchmarks: free host ports and an env file made from an environment's example."""

from __future__ import annotations

import socket
from pathlib import Path

from ..stack import GENERATED, env_example, new_secret_key

PORTS = ("WEB_PORT", "POSTGRES_HOST_PORT", "REDIS_HOST_PORT", "HTTP_PORT", "HTTPS_PORT", "PROMETHEUS_PORT")
PORTS += ("ALERTMANAGER_PORT", "FLOWER_PORT")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def env_file(directory: Path, env: str, **extra: str) -> Path:
    """An env file for a throwaway `env` stack: its example with a fresh secret, free ports and `extra`."""
    values = {
        **{name: new_secret_key() for name in GENERATED[env]},
        **{port: str(free_port()) for port in PORTS},
        "TLS_DIR": str(directory / "certs"),
        "SECRETS_DIR": str(directory / "secrets"),
        "ALLOWED_HOSTS": "localhost",
        "SECURE_SSL_REDIRECT": "true",
        **extra,
    }
    example = env_example(env).read_text().splitlines()
    lines = [line for line in example if line.split("=", 1)[0] not in values]
    path = directory / f"bench-{env}.env"
    path.write_text("\n".join([*lines, *(f"{k}={v}" for k, v in values.items())]) + "\n")
    path.chmod(0o600)
    return path
