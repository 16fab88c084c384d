"""Backup files on the host: the directory, listing, and the checks before a restore.

The files are written by the backup image (docker/backup/backup-once.sh), the
one place that names them and writes their metadata: `NAME.dump` with
`NAME.dump.sha256` and `NAME.dump.json` beside it. This module only reads
them: a backup is whatever has a metadata file and a dump, and `latest` is
the newest regular one of an environment by its recorded creation time.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from invoke.exceptions import Exit

from ..stack import backups_dir, host_ids


@dataclass(frozen=True)
class Backup:
    dump: Path
    environment: str
    kind: str  # "regular", or the safety kind: pre-restore, pre-deploy
    created_at: str
    size_bytes: int


def sidecar(dump: Path, suffix: str) -> Path:
    return dump.with_name(f"{dump.name}.{suffix}")


def prepare_dir() -> Path:
    """The backups directory, created 0700; one line naming the problem when it cannot be used."""
    directory = backups_dir()
    if directory.exists() and not directory.is_dir():
        raise Exit(f"✗ {directory} is a file, not a directory; move it away or set BACKUP_DIR, then retry.", code=2)
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        directory.chmod(0o700)  # dumps hold personal data and password hashes
        probe = directory / ".write-test"
        probe.touch()
        probe.unlink()
        hand_over(directory)
    except OSError as exc:
        raise Exit(
            f"✗ the backups directory {directory} is not usable ({exc.strerror}); make it writable for you "
            "or set BACKUP_DIR to one that is, then retry.",
            code=2,
        ) from None
    return directory


def hand_over(path: Path) -> None:
    """Give `path` to the user the backup container writes as (HOST_UID), when we may (as root)."""
    ids = host_ids()
    uid, gid = int(ids["HOST_UID"]), int(ids["HOST_GID"])
    if os.getuid() == 0 and (path.stat().st_uid, path.stat().st_gid) != (uid, gid):
        os.chown(path, uid, gid)


def read_metadata(dump: Path) -> dict:
    try:
        return json.loads(sidecar(dump, "json").read_text())
    except (OSError, ValueError):
        return {}


def listing(environment: str = "") -> list[Backup]:
    """Backups with metadata and a dump, oldest first; only `environment`'s when given."""
    found = []
    directory = backups_dir()
    if not directory.is_dir():
        return []
    for meta in directory.glob("*.dump.json"):
        dump = meta.with_suffix("")
        facts = read_metadata(dump)
        if not dump.is_file() or not facts or (environment and facts.get("environment") != environment):
            continue
        found.append(
            Backup(
                dump,
                facts.get("environment", "?"),
                facts.get("kind", "regular"),
                facts.get("created_at", ""),
                int(facts.get("size_bytes", dump.stat().st_size)),
            )
        )
    return sorted(found, key=lambda b: (b.created_at, b.dump.name))


def newest(environment: str, kind: str = "regular", since: str = "") -> Backup | None:
    matching = [b for b in listing(environment) if b.kind == kind and b.created_at >= since]
    return matching[-1] if matching else None


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checksum_state(dump: Path) -> str:
    """'ok', 'missing', 'MISMATCH' or 'unreadable' (an empty or malformed .sha256 file)."""
    checksum = sidecar(dump, "sha256")
    if not checksum.exists():
        return "missing"
    words = checksum.read_text(errors="replace").split()
    if not words or len(words[0]) != 64:
        return "unreadable"
    return "ok" if words[0] == sha256(dump) else "MISMATCH"


OTHER_ENV_HELP = "Restore a backup that another environment's stack made (default: off: refused, naming it)."


def resolve(environment: str, name: str, other_env: bool = False) -> Path:
    """The backup `name` (a path, a name in the backups directory, or `latest`), checked.

    Every input gets the same checks: a file, not empty, its checksum (when it
    has one) matching, and made by `environment`'s stack unless `other_env`.
    """
    directory = backups_dir()
    if not name:
        raise Exit(
            "✗ name the backup to restore: a file or 'latest' (prod: or --to a point); list them: ./inv db.backups.",
            code=2,
        )
    if name == "latest":
        found = newest(environment)
        if found is None:
            raise Exit(
                f"✗ no {environment} backups in {directory}; take one with ./inv db.backup --env {environment}.", 2
            )
        path = found.dump
    else:
        given = Path(name)
        path = given if given.is_absolute() or given.exists() else directory / name
    if path.is_dir():
        raise Exit(f"✗ {path} is a directory; name a backup file in it (./inv db.backups lists them).", code=2)
    if not path.is_file():
        raise Exit(
            f"✗ backup file {name} does not exist (looked in . and {directory}); list them with ./inv db.backups.",
            code=2,
        )
    if path.stat().st_size == 0:
        raise Exit(f"✗ backup file {path} is empty; it cannot be restored. Pick another one (./inv db.backups).", 2)
    state = checksum_state(path)
    if state in ("MISMATCH", "unreadable"):
        problem = "does not match its checksum" if state == "MISMATCH" else "has an empty or unreadable checksum file"
        raise Exit(
            f"✗ backup file {path} {problem} ({sidecar(path, 'sha256').name}): it was changed or damaged "
            "after it was written. Restore another one.",
            code=2,
        )
    made_by = read_metadata(path).get("environment")
    if made_by and made_by != environment and not other_env:
        raise Exit(
            f"✗ {path.name} is a backup of the {made_by} stack (its metadata says so): restoring it into {environment} "
            f"would bring {made_by}'s data and accounts with it. Pick a {environment} backup (./inv db.backups --env "
            f"{environment}), or add --other-env if that is what you mean.",
            code=2,
        )
    return path
