"""What to undo when ./inv dies in the middle of a risky step: the app paused, the proxy pinned.

Before db.restore pauses the app services for its swap, and before a rollout
pins the proxy to chosen web containers, the step notes in
var/ops/<compose project>.json what undoes it; the note goes once it is
undone. A run killed in between (an SSH drop, kill -9) leaves the note behind,
and the app paused or the proxy pinned. Notes are written only while the
stack's lock is held (lock.py), which the kernel releases when its holder
dies: whoever takes the lock next and finds a note knows its writer is gone,
undoes what it says before anything else, and says so in one line.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from invoke.exceptions import Exit

from .files import write_atomically
from .run import ROOT, Step, execute, output, run, say, shell
from .stack import Stack

UPSTREAM = "/etc/nginx/upstream"  # docker/nginx/follow-web.sh follows web's DNS unless `pinned` is here


def path(s: Stack) -> Path:
    return ROOT / "var" / "ops" / f"{s.project}.json"


def shown(s: Stack) -> Path:
    return path(s).relative_to(ROOT)


def read(s: Stack) -> dict:
    """The note; {} when there is none."""
    try:
        return json.loads(path(s).read_text()) if path(s).exists() else {}
    except ValueError:  # written atomically, so only damaged from outside
        raise Exit(f"✗ {path(s)} is not JSON; undo by hand what it names, then delete it.", code=1) from None


def note(s: Stack, what: str, **undo: list[str]) -> None:
    """Before a risky step: what undoes it (`paused`: services to unpause; `pinned`: the proxy's pinned addresses)."""
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    entry = {**read(s), **undo, "by": f"{what} (pid {os.getpid()}, since {since})"}
    write_atomically(path(s), json.dumps(entry) + "\n")


def forget(s: Stack, key: str) -> None:
    """Once the step is undone: nothing of it is left to undo."""
    entry = {k: v for k, v in read(s).items() if k != key}
    if set(entry) <= {"by"}:
        path(s).unlink(missing_ok=True)
    else:
        write_atomically(path(s), json.dumps(entry) + "\n")


def note_step(s: Stack, what: str, **undo: list[str]) -> Step:
    told = "; ".join(f"{key}: {' '.join(values)}" for key, values in undo.items())
    return Step(
        "note what to undo if this run dies", f"write {shown(s)} ({told})", action=lambda: note(s, what, **undo)
    )


def forget_step(s: Stack, key: str) -> Step:
    return Step("clear that note", f"remove '{key}' from {shown(s)}", action=lambda: forget(s, key))


def paused_listing(s: Stack, services: list[str]) -> str:
    return s.compose("ps", "--quiet", "--status", "paused", *services)


def unpause(s: Stack, services: list[str]) -> str:
    """Those of `services` still paused (someone may have unpaused them by hand since)."""
    paused = output(paused_listing(s, services), step="list the paused app containers").split()
    if paused:
        run(shell("docker", "unpause", *paused), step="unpause the app containers", capture=True)
    return f"unpaused {len(paused)} container(s) of {', '.join(services)}"


def unpin(s: Stack) -> str:
    """The running proxy follows web's DNS again (a recreated one starts unpinned: its upstream is a tmpfs)."""
    proxies = output(s.compose("ps", "--quiet", "--status", "running", "proxy"), step="find the proxy").split()
    for proxy in proxies:
        run(shell("docker", "exec", proxy, "rm", "-f", f"{UPSTREAM}/pinned"), step="unpin the proxy", capture=True)
    return "unpinned the proxy: it follows web's DNS again (./inv prod.deploy finishes the rollout)"


def undo_plan(s: Stack, entry: dict) -> list[Step]:
    """What a note left behind asks for; each step's action returns what it did."""
    plan = []
    if paused := entry.get("paused"):
        listed = paused_listing(s, paused)
        plan.append(
            Step(
                f"unpause {' '.join(paused)}", f"{listed} | xargs -r docker unpause", action=lambda: unpause(s, paused)
            )
        )
    if entry.get("pinned"):
        plan.append(Step("unpin the proxy", f"docker exec <proxy> rm -f {UPSTREAM}/pinned", action=lambda: unpin(s)))
    return plan


def left_behind(entry: dict) -> str:
    parts = []
    if paused := entry.get("paused"):
        parts.append(f"{', '.join(paused)} paused")
    if pinned := entry.get("pinned"):
        parts.append(f"the proxy pinned to {', '.join(pinned)}")
    return " and ".join(parts)


def recover(s: Stack, dry_run: bool = False) -> None:
    """Undo what a note left behind names, saying so in one line. Call it holding the stack's lock (lock.py)."""
    entry = read(s)
    if not entry:
        return
    found = f"{shown(s)}: {entry.get('by', 'an earlier run')} died with {left_behind(entry)}"
    plan = undo_plan(s, entry)
    if dry_run:
        say(f"! {found}; unless it is still running, a real run first undoes that:")
        execute(plan, dry_run=True)
        return
    try:
        done = [str(step.action()) for step in plan if step.action]
    except Exit as failed:
        raise Exit(
            f"✗ {found}, and undoing that failed (the note stays; the next run tries again):\n  {failed.message}",
            code=failed.code or 1,
        ) from None
    path(s).unlink(missing_ok=True)
    say(f"! {found}; {'; '.join(done)}")
