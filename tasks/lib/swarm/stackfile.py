"""The prod stack for Docker Swarm, generated from compose/prod's merged model: one definition, no copy.

`docker stack deploy` reads the compose format with differences. Each prod
guarantee is kept as follows (the generated file's header says the same):

- `depends_on` with conditions is rejected, so a deploy orders the start
  itself (tasks/swarm.py): the database first, then db-roles and migrate as
  swarm jobs (`replicated-job`, one attempt each), each awaited, and only then
  the rest of the stack. A failed migration stops the deploy before any
  running service changes. The app also waits for its database (`WAIT_FOR_DB`).
- `restart` is ignored: `deploy.restart_policy` restarts on any exit.
- `build` is ignored: every node runs the same bits, pulled from a registry by
  digest.
- `security_opt` (no-new-privileges), `shm_size` and `network_mode` (pitr's
  `none`) are ignored. Non-root
  users, `cap_drop: [ALL]` and read-only roots are kept.
- `cpu_shares` is rejected: `deploy.resources` holds limits and reservations
  that fit a small node.
- Virtual IPs need IPVS, and not every kernel has it, so every service is
  `endpoint_mode: dnsrr`. The proxy's ports are `mode: host`, on the node it
  runs on.
- Volumes are local to a node: db, pitr (which shares db's), redis, cache,
  backup and proxy are pinned by node label (`desideliver.data`, `desideliver.edge`).
- `media` (MEDIA_ROOT: queued order exports) is not shared: web and worker
  are not pinned, since spreading and moving them is what a swarm is for, so
  each node has its own `media`, and a web task serves only the exports a
  worker on its node wrote. docs/operations.md says what to use instead (the
  synchronous export, or `media` on storage every node mounts).
- Monitoring (compose's `monitoring` profile) is left out: on a swarm its UIs' loopback
  ports, its network without masquerading and node-exporter's place beside the data
  node need a design of their own (docs/operations.md, monitoring).
- Secrets are swarm secrets. Each one's name carries a hash of its content, so
  a rotation is a new secret and a rolling update, never an in-place change.
  The proxy's certificate and key are secrets too.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

JOBS = ("db-roles", "migrate")
MONITORING = "monitoring"  # the compose profile left out (the docstring says why)
# Keys a stack rejects or ignores; the docstring says what keeps each guarantee.
DROPPED = ("build", "depends_on", "restart", "security_opt", "cpu_shares", "shm_size", "container_name", "network_mode")
DATA_NODE = "node.labels.desideliver.data == true"
EDGE_NODE = "node.labels.desideliver.edge == true"
# pitr shares the database's volumes (its files, its socket): on the same node.
PINNED = {
    "db": DATA_NODE,
    "pitr": DATA_NODE,
    "redis": DATA_NODE,
    "cache": DATA_NODE,
    "backup": DATA_NODE,
    "proxy": EDGE_NODE,
}
REPLICAS = {"web": 2, "worker": 2, "beat": 1}
# Fits a small node (1 CPU, 2 GB): what each service is promised, besides its limit.
RESERVATIONS = {
    "db": ("0.25", "256M"),
    "web": ("0.25", "192M"),
    "worker": ("0.1", "128M"),
    "proxy": ("0.1", "32M"),
    "redis": ("0.05", "32M"),
}
TLS_SECRETS = {"tls_certificate": "fullchain.pem", "tls_key": "privkey.pem"}


def secret_name(project: str, key: str, path: Path) -> str:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
    return f"{project}_{key}_{digest}"


def update_policy() -> dict:
    """New web tasks start beside the old ones and must be healthy; a failed update rolls itself back."""
    return {
        "parallelism": 1,
        "order": "start-first",
        "delay": "5s",
        "monitor": "30s",
        "failure_action": "rollback",
        "max_failure_ratio": 0,
    }


def service(name: str, definition: dict, images: dict[str, str]) -> dict:
    # A deep copy: services that share an anchor share nested dicts in the merged model.
    s = copy.deepcopy({key: value for key, value in definition.items() if key not in DROPPED and value is not None})
    repository = s["image"].rsplit(":", 1)[0]
    s["image"] = images.get(repository, s["image"])
    deploy = s.setdefault("deploy", {})
    deploy.pop("placement", None)
    deploy["endpoint_mode"] = "dnsrr"
    deploy["restart_policy"] = {"condition": "any", "delay": "5s", "window": "30s"}
    if name in PINNED:
        deploy["placement"] = {"constraints": [PINNED[name]]}
    if name in REPLICAS:
        deploy["replicas"] = REPLICAS[name]
    if name in RESERVATIONS:
        cpus, memory = RESERVATIONS[name]
        deploy.setdefault("resources", {})["reservations"] = {"cpus": cpus, "memory": memory}
    if name == "web":
        deploy["update_config"] = update_policy()
        deploy["rollback_config"] = {"parallelism": 1, "order": "start-first"}
    limits = deploy.get("resources", {}).get("limits", {})
    limits.pop("pids", None)  # a stack takes no pids limit
    if "cpus" in limits:
        limits["cpus"] = str(limits["cpus"])
    if "ports" in s:
        s["ports"] = [
            {"target": p["target"], "published": int(p["published"]), "protocol": "tcp", "mode": "host"}
            for p in s["ports"]
        ]
    if name == "proxy":
        # The certificate as secrets where nginx reads it, instead of a host directory.
        s["volumes"] = [v for v in s.get("volumes", []) if v.get("target") != "/etc/nginx/tls"]
        s["secrets"] = [{"source": key, "target": f"/etc/nginx/tls/{file}"} for key, file in TLS_SECRETS.items()]
    # A stack ignores the `tmpfs` key: the same scratch space as tmpfs mounts.
    s["volumes"] = [*s.get("volumes", []), *(tmpfs_mount(entry) for entry in s.pop("tmpfs", []))]
    if not s["volumes"]:
        s.pop("volumes")
    return s


def tmpfs_mount(entry: str) -> dict:
    """`/path:size=64m,mode=1777` as a long-syntax tmpfs mount."""
    target, _, options = entry.partition(":")
    settings = dict(option.split("=", 1) for option in options.split(",") if "=" in option)
    tmpfs = {}
    if "size" in settings:
        number, unit = settings["size"][:-1], settings["size"][-1].lower()
        tmpfs["size"] = (
            int(number) * {"k": 1024, "m": 1024**2, "g": 1024**3}[unit] if unit in "kmg" else int(settings["size"])
        )
    if "mode" in settings:
        tmpfs["mode"] = int(settings["mode"], 8)
    return {"type": "tmpfs", "target": target, **({"tmpfs": tmpfs} if tmpfs else {})}


def job(name: str, definition: dict, images: dict[str, str]) -> dict:
    """A one-off service (db-roles, migrate) as a swarm job: one attempt, so a failure fails the deploy at once.

    Every deploy or `--force` update of a job runs it again (a new job iteration).
    """
    s = service(name, definition, images)
    s["deploy"].pop("replicas", None)
    s["deploy"]["mode"] = "replicated-job"
    s["deploy"]["restart_policy"] = {"condition": "none"}
    return s


def subset(generated: dict, names: tuple[str, ...]) -> dict:
    """The stack file with only these services (networks, volumes and secrets all kept).

    `docker stack deploy` without --prune leaves the services a file does not
    name as they are: this is how a deploy updates the stack in steps.
    """
    return {**generated, "services": {name: generated["services"][name] for name in names}}


def networks_of(services: dict[str, dict]) -> set[str]:
    return {network for definition in services.values() for network in definition.get("networks", {})}


def stack(config: dict, project: str, images: dict[str, str], tls_dir: Path) -> dict:
    """The stack file for `config` (docker compose config --format json of compose/prod), jobs included."""
    kept, left_out = {}, {}
    for name, definition in config["services"].items():
        (left_out if MONITORING in definition.get("profiles", []) else kept)[name] = definition
    services = {
        name: job(name, definition, images) if name in JOBS else service(name, definition, images)
        for name, definition in sorted(kept.items())
    }
    unused = networks_of(left_out) - networks_of(kept)
    files = {key: Path(secret["file"]) for key, secret in config.get("secrets", {}).items()}
    files.update({key: tls_dir / file for key, file in TLS_SECRETS.items()})
    networks = {
        name: {"driver": "overlay", **({"internal": True} if network.get("internal") else {})}
        for name, network in config["networks"].items()
        if name not in unused
    }
    return {
        "services": services,
        "networks": networks,
        "volumes": {name: {} for name in config.get("volumes", {})},
        "secrets": {
            key: {"name": secret_name(project, key, path), "file": str(path)} for key, path in sorted(files.items())
        },
    }
