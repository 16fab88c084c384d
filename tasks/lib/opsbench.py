"""./inv bench.load --rows: backup and restore of a big database, beside raw pg_dump and pg_restore."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from . import database
from .loadbench import Bench, verdict
from .run import output, say, shell


def seconds_of(command: str, step: str, **options: object) -> float:
    started = time.monotonic()
    output(command, step=step, timeout=1800, **options)
    return time.monotonic() - started


def settle(bench: Bench, seconds: float = 120) -> int:
    """Wait until the worker has taken every queued task (checkout's confirmations); the number left."""
    count = (
        "from config.celery import app\n"
        "with app.connection_for_write() as c: print(c.default_channel.client.llen(app.conf.task_default_queue))"
    )
    deadline = time.monotonic() + seconds
    while (left := int(bench.shell(count))) and time.monotonic() < deadline:
        time.sleep(2)
    return left


def operations(bench: Bench, rows: int, timed_inv: Callable[..., tuple[float, str]]) -> None:
    """Backup and restore of a database with `rows` extra rows, beside raw pg_dump and pg_restore."""
    s = bench.stack
    if left := settle(bench):  # timed on a quiet stack, not beside the checkout's mail
        say(f"  ({left} tasks still queued after 2 minutes: the figures below share the cores with the worker)")
    say(f"\nOperations on a database with {rows:,} more rows, medians of 3:")
    columns = "g AS id, md5(g::text) AS digest, now() AS at, repeat('x', 100) AS pad"
    fill = f"CREATE TABLE IF NOT EXISTS bench_rows AS SELECT {columns} FROM generate_series(1, {int(rows)}) g"  # noqa: S608
    database.query(s, fill)
    size = database.query(s, "SELECT pg_size_pretty(pg_database_size(current_database()))")
    raw = bench.workdir / "raw.dump"
    pg = '-U "$POSTGRES_USER" -d "$POSTGRES_DB"'

    def raw_dump_seconds(level: int) -> float:
        command = f"{database.in_db(s, f'pg_dump -Fc -Z{level} {pg}')} > {shell(raw)}"
        return statistics.median(seconds_of(command, "raw pg_dump") for _ in range(3))

    raw_dump_1 = raw_dump_seconds(1)  # the level backup-once.sh uses
    raw_dump = raw_dump_seconds(6)  # pg_dump's default; raw pg_restore reads this file
    ours = statistics.median(timed_inv("db.backup", "--env", "prod")[0] for _ in range(3))
    restore_raw = database.in_db(s, 'pg_restore -U "$POSTGRES_USER" -d bench_raw --no-owner') + f" < {shell(raw)}"
    raw_restores = []
    for _ in range(3):
        for sql in ("DROP DATABASE IF EXISTS bench_raw", "CREATE DATABASE bench_raw"):
            output(database.on_postgres(s, sql), step="a scratch database for raw pg_restore")
        raw_restores.append(seconds_of(restore_raw, "raw pg_restore"))
    raw_restore = statistics.median(raw_restores)
    restores = [timed_inv("db.restore", "latest", "--env", "prod", "--yes") for _ in range(3)]
    restore = statistics.median(t for t, _ in restores)
    gaps = [float(out.split("unavailable for ")[1].split("s")[0]) for _, out in restores if "unavailable for " in out]
    gap = statistics.median(gaps) if gaps else float("nan")
    say(f"  database {size}, dump {raw.stat().st_size / 1e6:.1f} MB")
    say(f"  {verdict(ours <= 1.2 * raw_dump)}  ./inv db.backup {ours:.1f} s vs raw pg_dump {raw_dump:.1f} s "
        f"({ours / raw_dump:.2f}x, goal <= 1.2x; vs -Z1 {raw_dump_1:.1f} s: {ours / raw_dump_1:.2f}x)")  # fmt: skip
    limit = 1.5 * raw_restore + ours
    say(f"  {verdict(restore <= limit)}  ./inv db.restore {restore:.1f} s vs raw pg_restore {raw_restore:.1f} s "
        f"+ safety backup {ours:.1f} s (goal <= 1.5x raw + backup = {limit:.1f} s)")  # fmt: skip
    say(f"  {verdict(gap <= 3)}  app unavailable during the swap {gap:.1f} s (goal <= 3 s)")
