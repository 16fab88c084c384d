"""db.transfer: the native stack's SQLite data into the Docker dev stack's PostgreSQL, counts compared."""

from __future__ import annotations

import json
from pathlib import Path

from invoke.exceptions import Exit

from ..run import Step, output, say
from ..stack import ROOT, SETTINGS, Stack, manage

# Rebuilt by migrate on every database: neither dumped nor compared.
REBUILT = ("contenttypes.ContentType", "auth.Permission")


def counts(command: str, what: str, env: dict[str, str] | None = None) -> dict[str, int]:
    out = output(command, step=f"count rows per model in {what}", env=env)
    return {k: v for k, v in json.loads(out.splitlines()[-1]).items() if k not in REBUILT}


def compare_counts(source: dict[str, int], target: dict[str, int]) -> None:
    """Print per-model counts side by side; fail naming every model that differs."""
    say(f"  {'model':<28} {'SQLite':>8} {'PostgreSQL':>11}")
    for label in sorted(source):
        mark = "" if source[label] == target.get(label) else "   ✗ differs"
        say(f"  {label:<28} {source[label]:>8} {target.get(label, 0):>11}{mark}")
    differing = [label for label in source if source[label] != target.get(label)]
    if differing:
        raise Exit(f"✗ row counts differ for {', '.join(differing)}", code=1)
    say(f"✓ {sum(source.values())} rows in {len(source)} models, identical counts on both sides")


def plan(s: Stack, source: Path, snapshot: Path, replace: bool) -> list[Step]:
    source_env = {"DJANGO_SETTINGS_MODULE": SETTINGS["dev"], "DATABASE_URL": f"sqlite:///{source}", "REDIS_URL": ""}
    in_container = s.exec("web", "python", "manage.py", "model_counts")
    counted: dict[str, int] = {}
    excluded = [a for m in REBUILT for a in ("--exclude", m)]
    dump = manage("dumpdata", "--natural-foreign", "--natural-primary", *excluded, "--output", str(snapshot))
    load = ["load_snapshot", f"/app/{snapshot.relative_to(ROOT)}", *(["--replace"] * replace)]
    return [
        # umask: the snapshot holds password hashes; it is removed whatever happens (see transfer).
        Step("dump the SQLite data (0600)", f"umask 077 && {dump}", env=source_env),
        Step(
            "count rows per model in SQLite",
            manage("model_counts"),
            env=source_env,
            action=lambda: counted.update(counts(manage("model_counts"), "SQLite", source_env)),
        ),
        Step(
            "load into PostgreSQL in one transaction, then reset sequences", s.exec("web", "python", "manage.py", *load)
        ),
        Step(
            "compare per-model row counts",
            in_container,
            action=lambda: compare_counts(counted, counts(in_container, "PostgreSQL")),
        ),
    ]
