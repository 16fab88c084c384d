"""Which image tag is in service: the checkout's git revision and the deploy record.

`prod.deploy` records `{"current": tag, "previous": tag, "schema": ...}` per
compose project in var/deploy/, so `prod.up`, `prod.rollback` and every
compose command run the images that were deployed, not the checkout's.
"""

from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path

from .files import write_atomically
from .run import ROOT


@functools.cache
def git_revision() -> str:
    """Short git revision of the checkout, with `-dirty` when tracked files changed (asked once per run)."""

    # Not lib.run: the runner asks this for every command's IMAGE_TAG. Any failure means "unversioned".
    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return result.stdout.strip() if result.returncode == 0 else ""

    revision = git("rev-parse", "--short=12", "HEAD")
    if not revision:
        return "unversioned"
    return revision + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def record_path(project: str) -> Path:
    return ROOT / "var" / "deploy" / f"{project}.json"


def deployed(project: str) -> dict[str, str]:
    """The deploy record; {} before the first deploy."""
    path = record_path(project)
    return json.loads(path.read_text()) if path.exists() else {}


def current_tag(project: str) -> str:
    """The tag in service, else the checkout's revision (what a first deploy builds)."""
    return deployed(project).get("current") or git_revision()


def record(project: str, tag: str, **facts: str) -> None:
    """Remember `tag` as in service and what it replaced (for prod.rollback), plus `facts`."""
    old = deployed(project)
    before = old.get("current")
    new = {"current": tag, "previous": before if before and before != tag else old.get("previous", ""), **facts}
    # Every compose command reads it for IMAGE_TAG: a torn record would stop them all.
    write_atomically(record_path(project), json.dumps(new) + "\n")
