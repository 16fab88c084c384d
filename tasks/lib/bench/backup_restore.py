"""./inv bench.load --rows: backup and restore of a big database, beside raw pg_dump and pg_restore."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

from ..db import database
from ..run import output, say, shell
from .scenarios import Bench, settle, verdict


def seconds_of(command: str, step: str, **options: object) -> float:
    started = time.monotonic()
    output(command, step=step, timeout=1800, **options)
    return time.monotonic() - started


def operations(bench: Bench, rows: int, timed_inv: Callable[..., tuple[float, str]]) -> None:
    """Backup and restore of a database with `rows` extra rows, beside raw pg_dump and pg_restore."""
    s = bench.stack
    if left := settle(bench):  # timed on a quiet stack, not beside the checkout's mail
        say(f"  ({left} tasks still queued after 2 minutes: the figures below share the cores with the worker)")
    say(f"\nOperations on a database with {rows:,} more rows, medians of 3:")
    # As the superuser: every name qualified (database.PSQL looks names up in pg_catalog only).
    columns = "g AS id, pg_catalog.md5(g::text) AS digest, pg_catalog.now() AS at, pg_catalog.repeat('x', 100) AS pad"
    series = f"pg_catalog.generate_series(1, {int(rows)}) g"
    database.query(s, f"CREATE TABLE IF NOT EXISTS public.bench_rows AS SELECT {columns} FROM {series}")  # noqa: S608
    size = database.query(
        s, "SELECT pg_catalog.pg_size_pretty(pg_catalog.pg_database_size(pg_catalog.current_database()))"
    )
    pg = '-U "$POSTGRES_USER" -d "$POSTGRES_DB"'

    def raw_dump(compress: str) -> tuple[float, Path]:
        """Median seconds of a raw `pg_dump -Fc --compress=...` into a file here, and that file."""
        dump = bench.workdir / f"raw-{compress.replace(':', '')}.dump"
        command = f"{database.in_db(s, f'pg_dump -Fc --compress={compress} {pg}')} > {shell(dump)}"
        return statistics.median(seconds_of(command, "raw pg_dump") for _ in range(3)), dump

    def raw_restore(dump: Path) -> float:
        """Median seconds of a raw pg_restore of `dump` into a new database."""
        command = database.in_db(s, 'pg_restore -U "$POSTGRES_USER" -d bench_raw --no-owner') + f" < {shell(dump)}"
        times = []
        for _ in range(3):
            for sql in ("DROP DATABASE IF EXISTS bench_raw", "CREATE DATABASE bench_raw"):
                output(database.on_postgres(s, sql), step="a scratch database for raw pg_restore")
            times.append(seconds_of(command, "raw pg_restore"))
        return statistics.median(times)

    # pg_dump's default (the "raw pg_dump"), and what backup-once.sh uses (like for like).
    (default_dump, raw), (zstd_dump, raw_zstd) = raw_dump("gzip:6"), raw_dump("zstd:1")
    ours = statistics.median(timed_inv("db.backup", "--env", "prod")[0] for _ in range(3))
    default_restore, zstd_restore = raw_restore(raw), raw_restore(raw_zstd)
    restores = [timed_inv("db.restore", "latest", "--env", "prod", "--yes") for _ in range(3)]
    restore = statistics.median(t for t, _ in restores)
    gaps = [float(out.split("unavailable for ")[1].split("s")[0]) for _, out in restores if "unavailable for " in out]
    gap = statistics.median(gaps) if gaps else float("nan")
    megabytes = {name: dump.stat().st_size / 1e6 for name, dump in (("gzip:6", raw), ("zstd:1", raw_zstd))}
    say(f"  database {size}, dump " + ", ".join(f"{mb:.1f} MB ({name})" for name, mb in megabytes.items()))
    say(f"  {verdict(ours <= 1.2 * default_dump)}  ./inv db.backup {ours:.1f} s vs raw pg_dump {default_dump:.1f} s "
        f"({ours / default_dump:.2f}x, goal <= 1.2x; vs raw at zstd:1, as ours, {zstd_dump:.1f} s: "
        f"{ours / zstd_dump:.2f}x)")  # fmt: skip
    limit = 1.5 * default_restore + ours
    say(f"  {verdict(restore <= limit)}  ./inv db.restore {restore:.1f} s vs raw pg_restore {default_restore:.1f} s "
        f"+ safety backup {ours:.1f} s (goal <= 1.5x raw + backup = {limit:.1f} s; raw of a zstd:1 dump "
        f"{zstd_restore:.1f} s)")  # fmt: skip
    say(f"  {verdict(gap <= 3)}  app unavailable during the swap {gap:.1f} s (goal <= 3 s)")
