"""Talking to a swarm: its manager's engine, the registry its nodes pull from, and the stack file.

Settings, in .env.prod: SWARM_HOST (a manager's engine, e.g. tcp://10.0.0.1:2375 or
ssh://deploy@manager; empty: this host's engine), SWARM_REGISTRY (the registry
every node pulls from, e.g. registry.example.com:5000), SWARM_PUSH_REGISTRY
(where this host pushes, when it reaches that registry by another name;
default SWARM_REGISTRY) and SWARM_STACK (the stack's name, default desideliver).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from invoke.exceptions import Exit

from . import swarmstack
from .run import ROOT, output, run, say, shell
from .stack import Stack, tls_dir

STACK_FILE = ROOT / "var" / "swarm" / "stack.json"
APP_IMAGES = ("desideliver-django", "desideliver-proxy", "desideliver-backup")


def name(s: Stack) -> str:
    return s.setting("SWARM_STACK", "desideliver")


def docker(s: Stack, *args: str) -> str:
    """A docker command line aimed at the swarm's manager."""
    host = s.setting("SWARM_HOST")
    return shell("docker", *(["-H", host] if host else []), *args)


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


def write(generated: dict, path: Path = STACK_FILE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(generated, indent=2) + "\n")
    say(f"  wrote {path.relative_to(ROOT)}: {len(generated['services'])} services, no secret values (files only)")


def generate(s: Stack, merged: dict, images: dict[str, str], jobs: bool) -> dict:
    return swarmstack.stack(merged, name(s), images, tls_dir(), jobs=jobs)


def wait_converged(s: Stack, timeout: float = 600) -> None:
    """Until every service runs its replicas and every job has completed, or one line naming what did not."""
    deadline = time.monotonic() + timeout
    while True:
        listing = output(docker(s, "stack", "services", name(s), "--format", "{{.Name}} {{.Replicas}}"), step="ls")
        pending = [line for line in listing.splitlines() if not converged(line)]
        if not pending:
            say(f"✓ every service of {name(s)} runs its replicas; the jobs completed")
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
