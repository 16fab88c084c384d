"""Liveness and readiness probes.

Liveness touches nothing outside the process, so a database outage never gets
healthy web containers restarted. Readiness checks what a request needs.
"""

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
    results: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            problem = check()
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}".strip()
        results[name] = problem or "ok"
    ready = all(v == "ok" for v in results.values())
    return Response({"status": "ok" if ready else "unavailable", "checks": results}, status=200 if ready else 503)
