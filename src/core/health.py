"""Liveness and readiness probes.

Liveness touches nothing outside the process, so a database outage never gets
healthy web containers restarted. Readiness checks what a request needs, the
database and the cache at once and for at most READY_TIMEOUT seconds: a
stalled database or Redis makes it answer 503 in time, not hang with it.
Callers learn only which check failed; the reason goes to the log (it names
hosts and drivers).

Readiness is public, so a flood of probes must cost nothing: one round of
checks runs at a time per process, on one database connection, and its answer
serves every probe for READY_CACHE_SECONDS after it.
"""

import logging
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, wait

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes, throttle_classes
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

_status = inline_serializer(
    "HealthStatus",
    {"status": serializers.CharField(), "checks": serializers.DictField(required=False)},
)


def check_database() -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return None


def check_cache() -> str | None:
    # django-redis swallows errors (IGNORE_EXCEPTIONS), so a round trip is the test.
    cache.set("health:probe", "ok", 10)
    return None if cache.get("health:probe") == "ok" else "cache did not return the value it stored"


def check_migrations() -> str | None:
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return f"{len(plan)} unapplied migration(s)" if plan else None


CHECKS = {"database": check_database, "cache": check_cache, "migrations": check_migrations}
# Run one after another on one thread, and so on one database connection.
ON_THE_DATABASE = ("database", "migrations")
READY_TIMEOUT = 1.5
logger = logging.getLogger(__name__)
# Shared and small: checks stuck on a stalled server stay bounded at two rounds'
# worth of threads, and later probes simply time out behind them.
_checks = ThreadPoolExecutor(max_workers=4, thread_name_prefix="readiness")
# One round at a time per process; probes arriving during it wait for its answer.
_round = threading.Lock()
_last: tuple[float, float, dict[str, str]] = (0.0, 0.0, {})  # the last round's (finished at, serves until, results)


def run_checks(names: Iterable[str], problems: dict[str, str | None]) -> None:
    """Run the checks `names` in turn, recording each one's problem (None: passed) as it finishes."""
    try:
        for name in names:
            try:
                problems[name] = CHECKS[name]()
            except Exception as exc:
                problems[name] = f"{type(exc).__name__}: {exc}".strip()
    finally:
        # This thread's own connection: closed, so readiness holds none between rounds.
        connection.close()


def check_round(timeout: float) -> dict[str, str]:
    """ "ok" or "failed" per check; a check still running after `timeout` seconds has failed."""
    problems: dict[str, str | None] = {}
    others = [name for name in CHECKS if name not in ON_THE_DATABASE]
    futures = [_checks.submit(run_checks, group, problems) for group in (ON_THE_DATABASE, others)]
    wait(futures, timeout=timeout)
    results = {}
    for name in CHECKS:
        problem = problems.get(name, f"no answer within {timeout:g}s")
        if problem:
            logger.warning("readiness: %s check failed: %s", name, problem)
        results[name] = "failed" if problem else "ok"
    return results


def check_all(timeout: float = READY_TIMEOUT, fresh_for: float = 0) -> dict[str, str]:
    """The checks' results: a new round's, or the last one's if it finished while this call waited for it
    or is still within the `fresh_for` the call that ran it gave."""
    global _last
    asked = time.monotonic()
    with _round:
        finished, serves_until, results = _last
        if finished > asked or time.monotonic() < serves_until:
            return results
        results = check_round(timeout)
        finished = time.monotonic()
        _last = (finished, finished + fresh_for, results)
        return results


@extend_schema(responses={200: _status})
@api_view(["GET"])
@permission_classes([AllowAny])
@throttle_classes([])
def liveness(request: Request) -> Response:
    return Response({"status": "ok"})


@extend_schema(responses={200: _status, 503: _status})
@api_view(["GET"])
@permission_classes([AllowAny])
@throttle_classes([])
def readiness(request: Request) -> Response:
    results = check_all(fresh_for=settings.READY_CACHE_SECONDS)
    ready = all(v == "ok" for v in results.values())
    return Response({"status": "ok" if ready else "unavailable", "checks": results}, status=200 if ready else 503)
