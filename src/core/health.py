"""Liveness and readiness probes.

Liveness touches nothing outside the process, so a database outage never gets
healthy web containers restarted. Readiness checks what a request needs, all
checks at once and for at most READY_TIMEOUT seconds: a stalled database or
Redis makes it answer 503 in time, not hang with it. Callers learn only which
check failed; the reason goes to the log (it names hosts and drivers).
"""

import logging
from concurrent.futures import ThreadPoolExecutor, wait

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
READY_TIMEOUT = 1.5
logger = logging.getLogger(__name__)
# Shared and small: checks stuck on a stalled server stay bounded at this many
# threads, and later probes simply time out behind them.
_checks = ThreadPoolExecutor(max_workers=len(CHECKS) * 2, thread_name_prefix="readiness")


def run_check(name: str) -> str | None:
    try:
        return CHECKS[name]()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".strip()
    finally:
        connection.close()  # each check ran on its own thread's connection


def check_all(timeout: float = READY_TIMEOUT) -> dict[str, str]:
    """ "ok" or "failed" per check; a check still running after `timeout` seconds has failed."""
    futures = {name: _checks.submit(run_check, name) for name in CHECKS}
    wait(futures.values(), timeout=timeout)
    results = {}
    for name, future in futures.items():
        problem = future.result() if future.done() else f"no answer within {timeout:g}s"
        if problem:
            logger.warning("readiness: %s check failed: %s", name, problem)
        results[name] = "failed" if problem else "ok"
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
    results = check_all()
    ready = all(v == "ok" for v in results.values())
    return Response({"status": "ok" if ready else "unavailable", "checks": results}, status=200 if ready else 503)
