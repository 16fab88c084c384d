"""The monitoring switch: MONITORING=on in .env.prod.

The switch is compose's `monitoring` profile (compose/prod/compose.yaml): every
command gets COMPOSE_PROFILES with it while the setting is on, so `up`, `build`
and `down` see the same services. Here too: the images the profile adds, the
secret files its exporters read, and where its UIs are.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .. import run
from ..stack import secrets_dir, setting

PROFILE = "monitoring"
SWITCH = "MONITORING"
# Images of the project's own (the config baked in); the exporters run as published.
IMAGE_SERVICES = ("prometheus", "alertmanager")
WEBHOOK_FILE = "alert_webhook_url"
# .invalid never resolves: Alertmanager's log names this host until the operator sets a real URL.
WEBHOOK_PLACEHOLDER = "http://alert-webhook.invalid/put-your-webhook-url-in-secrets/alert_webhook_url"
# What redis_exporter reads: a JSON map of each Redis it scrapes to its password.
REDIS_EXPORTER_FILE = "redis_exporter_passwords"
REDIS_SERVERS = ("redis://redis:6379", "redis://cache:6379")
UIS = {
    "Prometheus": ("PROMETHEUS_PORT", "9090"),
    "Alertmanager": ("ALERTMANAGER_PORT", "9093"),
    "Flower": ("FLOWER_PORT", "5555"),
}
# Flower's UI shows tasks with their arguments, so it asks for a login (src/flower_exporter.py).
FLOWER_USER, FLOWER_PASSWORD_FILE = "operator", "flower_password"


def enabled() -> bool:
    return setting("prod", SWITCH, "off").strip().lower() == "on"


def problem() -> str:
    """What is wrong with the switch itself ("" when it is on, off or unset)."""
    value = setting("prod", SWITCH, "off").strip().lower()
    return "" if value in ("on", "off", "") else f"{SWITCH}={value!r} is neither on nor off"


def compose_environment() -> dict[str, str]:
    """The profile, added to any the operator's shell gives, while monitoring is on."""
    if not enabled():
        return {}
    profiles = [name for name in os.environ.get("COMPOSE_PROFILES", "").split(",") if name]
    return {"COMPOSE_PROFILES": ",".join(dict.fromkeys([*profiles, PROFILE]))}


# Every command gets it, so no compose call sees a different set of services.
run.BASE_ENV.append(compose_environment)


def image_services() -> tuple[str, ...]:
    return IMAGE_SERVICES if enabled() else ()


def write_exporter_secret(directory: Path, redis_password: str) -> None:
    """redis_exporter's password map, written anew from redis_password at every start (so a changed
    password reaches it with the next deploy); 0644 like the others, for the exporter's user."""
    path = directory / REDIS_EXPORTER_FILE
    path.write_text(json.dumps(dict.fromkeys(REDIS_SERVERS, redis_password)) + "\n")
    path.chmod(0o644)


def ports() -> dict[str, str]:
    """Each UI's port on the Docker host's loopback (compose publishes them nowhere else)."""
    return {name: setting("prod", variable, default) for name, (variable, default) in UIS.items()}


def ui_urls() -> dict[str, str]:
    return {name: f"http://127.0.0.1:{port}/" for name, port in ports().items()}


def login_hint() -> str:
    return f"Flower asks for a login: user {FLOWER_USER}, the password in {secrets_dir() / FLOWER_PASSWORD_FILE}."


def tunnel_command() -> str:
    """The SSH command that brings every UI to the same URLs on another machine."""
    return "ssh -N " + " ".join(f"-L {port}:127.0.0.1:{port}" for port in ports().values()) + " USER@DOCKER-HOST"
