"""Talking to a swarm: its manager's engine, the registry its nodes pull from, and the stack file.

Settings, in .env.prod: SWARM_HOST (a manager's engine, e.g. ssh://deploy@manager
or tcp://10.0.0.1:2376 with SWARM_TLS_DIR; empty: this host's engine),
SWARM_DATA_HOST (the engine of the node labelled desideliver.data, where db
and backup run; default SWARM_HOST), SWARM_TLS_DIR (this host's client
certificate for tcp:// engines: ca.pem, cert.pem, key.pem), SWARM_REGISTRY (the
registry every node pulls from, e.g. registry.example.com:5000),
SWARM_PUSH_REGISTRY (where this host pushes, when it reaches that registry by
another name; default SWARM_REGISTRY) and SWARM_STACK (the stack's name,
default desideliver).

An engine on plain tcp:// is refused: whoever reaches it is root on the node,
and a deploy sends every secret and the TLS key over it in clear.
SWARM_ALLOW_PLAIN_TCP=yes allows it for a lab, with a warning each run.
"""

from __future__ import annotations

import json
import time
from functools import cache
from pathlib import Path

from invoke.exceptions import Exit

from ..run import ROOT, output, run, say, shell
from ..stack import Stack, tls_dir
from . import stackfile

# What the swarm runs (written when a deploy converged), and what a deploy in progress applies.
STACK_FILE = ROOT / "var" / "swarm" / "stack.json"
NEXT_FILE = STACK_FILE.with_name("stack.next.json")
APP_IMAGES = ("desideliver-django", "desideliver-proxy", "desideliver-backup")
# Every setting naming a node's engine, and what a tcp:// one needs.
NODES = ("SWARM_HOST", "SWARM_DATA_HOST")
TLS_FILES = ("ca.pem", "cert.pem", "key.pem")
PLAIN_TCP = "SWARM_ALLOW_PLAIN_TCP"


def name(s: Stack) -> str:
    return s.setting("SWARM_STACK", "desideliver")


def full_name(s: Stack, service: str) -> str:
    """What swarm calls a service of the stack: `desideliver_web`."""
    return f"{name(s)}_{service}"


def docker(s: Stack, *args: str, node: str = "SWARM_HOST") -> str:
    """A docker command line aimed at the swarm's manager (or, with node="SWARM_DATA_HOST", the data node)."""
    return shell("docker", *engine(s, node), *args)


def engine(s: Stack, node: str = "SWARM_HOST") -> list[str]:
    """The docker flags that aim at a node's engine (default SWARM_HOST's): -H, and for tcp:// the client certificate.

    A tcp:// engine without SWARM_TLS_DIR is refused unless SWARM_ALLOW_PLAIN_TCP=yes.
    """
    setting = node if s.setting(node) else "SWARM_HOST"
    address = s.setting(setting)
    if not address:
        return []  # this host's engine
    scheme, sep, _ = address.partition("://")
    if sep and scheme in ("unix", "npipe", "ssh"):  # a local socket, or ssh's authentication and encryption
        return ["-H", address]
    # Anything else crosses TCP (the docker CLI reads a bare HOST:PORT as tcp:// too).
    if s.setting("SWARM_TLS_DIR"):
        return [*client_certificate(s), "-H", address]
    if s.setting(PLAIN_TCP) != "yes":
        raise Exit(
            f"✗ {setting}={address} in {s.env_file.name} is an engine on plain TCP: whoever reaches it is root on the "
            "node, and a deploy sends every secret and the TLS key over it in clear. Use ssh://user@host, or "
            "tcp://HOST:2376 with SWARM_TLS_DIR holding this host's client certificate (ca.pem, cert.pem, key.pem).",
            code=2,
        )
    warn_plain_tcp(setting, address)
    return ["-H", address]


def engines(s: Stack) -> None:
    """Every node's engine checked (see engine), before a command that reaches them runs anything."""
    for node in NODES:
        engine(s, node)


@cache  # once per run: a deploy builds a docker command line every few seconds while it waits
def warn_plain_tcp(setting: str, address: str) -> None:
    say(
        f"  ! {setting}={address} is plain TCP ({PLAIN_TCP}=yes): whoever reaches it is root on the node, and "
        "secrets and the TLS key cross it in clear. For a lab only."
    )


def client_certificate(s: Stack) -> list[str]:
    """--tlsverify with the CA and this host's client certificate and key in SWARM_TLS_DIR, each checked."""
    directory = (ROOT / s.setting("SWARM_TLS_DIR")).resolve()
    if missing := [file for file in TLS_FILES if not (directory / file).is_file()]:
        raise Exit(
            f"✗ SWARM_TLS_DIR in {s.env_file.name} ({directory}) lacks {', '.join(missing)}: it needs ca.pem (the "
            "CA that signed the engines' certificates), cert.pem and key.pem (this host's client certificate and "
            "key); put them there, or point SWARM_TLS_DIR at the directory that has them.",
            code=2,
        )
    ca, cert, key = (str(directory / file) for file in TLS_FILES)
    return ["--tlsverify", "--tlscacert", ca, "--tlscert", cert, "--tlskey", key]


def registry(s: Stack) -> str:
    pulled_from = s.setting("SWARM_REGISTRY")
    if not pulled_from:
        raise Exit("✗ set SWARM_REGISTRY in .env.prod: the registry every node pulls the images from.", code=2)
    return pulled_from


def push(s: Stack, tag: str, merged: dict) -> dict[str, str]:
    """Push the app images (:tag) and the base images the stack names; each by digest, as nodes pull it."""
    pulled_from = registry(s)
    pushed_to = s.setting("SWARM_PUSH_REGISTRY", pulled_from)
    sources = {f"{image}:{tag}" for image in APP_IMAGES}
    sources |= {svc["image"] for svc in merged["services"].values() if not svc["image"].startswith(APP_IMAGES)}
    images = {}
    for source in sorted(sources):
        target = f"{pushed_to}/{source}"
        run(shell("docker", "tag", source, target), step=f"tag {source}", capture=True)
        run(shell("docker", "push", "-q", target), step=f"push {target}", capture=True, timeout=900)
        digest = output(shell("docker", "inspect", "-f", "{{index .RepoDigests 0}}", target), step="digest")
        repository = source.rsplit(":", 1)[0]
        images[repository] = f"{pulled_from}/{repository}@{digest.split('@', 1)[1]}"
        say(f"  {source} -> {images[repository]}")
    return images


def merged_config(s: Stack, tag: str) -> dict:
    return json.loads(
        output(s.compose("config", "--format", "json"), step="render compose/prod", env={"IMAGE_TAG": tag})
    )


def write(generated: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(generated, indent=2) + "\n")
    say(f"  wrote {path.relative_to(ROOT)}: {len(generated['services'])} services, no secret values (files only)")


def generate(s: Stack, merged: dict, images: dict[str, str]) -> dict:
    return stackfile.stack(merged, name(s), images, tls_dir())


def deploy_services(s: Stack, services: tuple[str, ...] = ()) -> None:
    """`docker stack deploy` of these services of the deploy's stack file (default: every one but the jobs)."""
    generated = json.loads(NEXT_FILE.read_text())
    names = services or tuple(n for n in generated["services"] if n not in stackfile.JOBS)
    deploy_part(s, stackfile.subset(generated, names), "-".join(services) or "services")


def deploy_part(s: Stack, part: dict, label: str) -> None:
    """`docker stack deploy` of a part of the stack: the services it does not name stay as they run."""
    file = STACK_FILE.with_name(f"stack-{label}.json")
    file.write_text(json.dumps(part, indent=2) + "\n")
    command = docker(s, "stack", "deploy", "--detach=true", "--with-registry-auth", "-c", str(file), name(s))
    run(command, step=f"docker stack deploy ({', '.join(part['services'])})", capture=True)


def start(s: Stack, service: str = "") -> None:
    """Deploy one service of the deploy's stack file (default: every one but the jobs), wait until it converged.

    The whole stack converged: its file becomes the record of what runs (the restore's jobs read it).
    """
    deploy_services(s, (service,) if service else ())
    wait_converged(s, service)
    if not service:
        NEXT_FILE.replace(STACK_FILE)


def run_job(s: Stack, job: str) -> None:
    """Deploy the job from the stack file (a new run of it) and wait until it completed."""
    deploy_services(s, (job,))
    wait_job(s, job)


def runs(s: Stack, service: str) -> bool:
    """Whether the stack has this service (on the manager's view)."""
    listed = output(docker(s, "service", "ls", "-q", "--filter", f"name={full_name(s, service)}"), step="service ls")
    return bool(listed)


def wait_converged(s: Stack, only: str = "", timeout: float = 600) -> None:
    """Until every service (or only `only`) runs its replicas and every job completed, or a line naming what did not."""
    deadline = time.monotonic() + timeout
    while True:
        listing = output(docker(s, "stack", "services", name(s), "--format", "{{.Name}} {{.Replicas}}"), step="ls")
        lines = [line for line in listing.splitlines() if not only or line.startswith(f"{full_name(s, only)} ")]
        pending = [line for line in lines if not converged(line)]
        if lines and not pending:
            say(f"✓ {only or 'every service'} of {name(s)} runs its replicas")
            return
        if time.monotonic() > deadline:
            raise Exit(f"✗ not converged after {timeout:.0f}s: {', '.join(pending)}; see ./inv swarm.ps", code=1)
        time.sleep(3)


def converged(line: str) -> bool:
    """`shop_web 2/2` or `shop_migrate 0/1 (1/1 completed)`."""
    _, _, replicas = line.partition(" ")
    if "completed" in replicas:
        done = replicas.split("(")[1].split()[0]
        return done.split("/")[0] == done.split("/")[1]
    running, _, wanted = replicas.partition("/")
    return running == wanted.split()[0]


def wait_job(s: Stack, job: str, timeout: float = 900) -> None:
    """Until this run (iteration) of the job completed, or one line with its error and last output when it failed."""
    full = full_name(s, job)
    inspect = docker(s, "service", "inspect", "-f", "{{.JobStatus.JobIteration.Index}}", full)
    iteration = int(output(inspect, step=f"the run of {full}"))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ids = output(docker(s, "service", "ps", "-q", "--no-trunc", full), step=f"tasks of {full}").split()
        tasks = json.loads(output(docker(s, "inspect", *ids), step="inspect tasks")) if ids else []
        states = {
            t["Status"]["State"]: t["Status"].get("Err", "")
            for t in tasks
            if t.get("JobIteration", {}).get("Index", 0) == iteration  # JSON leaves a 0 out
        }
        if "complete" in states:
            say(f"✓ {full} completed")
            return
        failed = next((state for state in ("failed", "rejected") if state in states), "")
        if failed:
            last = run(
                docker(s, "service", "logs", "--raw", "--tail", "15", full), step="logs", capture=True, check=False
            )
            raise Exit(
                f"✗ the job {full} {failed} ({states[failed]}).\n"
                f"  Its last output:\n{(last.stdout + last.stderr).rstrip()}",
                code=1,
            )
        time.sleep(2)
    raise Exit(f"✗ the job {full} did not finish within {timeout:.0f}s; see ./inv swarm.logs -s {job}", code=1)
