"""GET /metrics: Prometheus's scrape, from inside the stack only (core/metrics.py)."""

import re

import pytest
from django.db import connection

from tests.api.test_settings import run_django

pytestmark = pytest.mark.django_db


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one series in an exposition, 0 when it is absent."""
    for line in text.splitlines():
        series, _, value = line.rpartition(" ")
        if series.startswith(name + "{") and all(f'{k}="{v}"' in series for k, v in labels.items()):
            return float(value)
    return 0.0


def scrape(api) -> str:
    response = api.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


def test_a_request_moves_the_counters_of_its_view_and_status(api, product):
    name = "django_http_responses_total_by_status_view_method_total"
    before = sample(scrape(api), name, view="product-detail", method="GET", status="200")
    assert api.get(f"/api/v1/products/{product.pk}/").status_code == 200
    after = scrape(api)
    assert sample(after, name, view="product-detail", method="GET", status="200") == before + 1
    assert sample(after, "django_http_requests_latency_seconds_by_view_method_count", view="product-detail") >= 1


def test_a_scrape_is_no_request_of_its_own_and_needs_no_allowed_host(api, settings):
    settings.ALLOWED_HOSTS = ["shop.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    first = scrape(api)
    second = api.get("/metrics", HTTP_HOST="web:8000")
    assert second.status_code == 200
    assert not re.search(r'view="[^"]*metrics', first + second.content.decode())


def test_through_the_front_door_it_is_not_found(api):
    # nginx sets X-Forwarded-For on everything it passes on.
    response = api.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert response.status_code == 404
    assert b"django_http" not in response.content


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the query metrics wrap PostgreSQL's backend")
def test_queries_are_counted_on_postgresql(api, product):
    # A query of its own: a view's may be answered from the catalogue cache (Redis, in CI's second run).
    before = sample(scrape(api), "django_db_execute_total", alias="default", vendor="postgresql")
    assert type(product).objects.filter(pk=product.pk).count() == 1
    assert sample(scrape(api), "django_db_execute_total", alias="default", vendor="postgresql") == before + 1


def test_with_metrics_off_nothing_is_counted_and_there_is_no_endpoint():
    # What prod runs while MONITORING is off (compose/prod: METRICS follows it).
    code = (
        "from django.conf import settings as s; from django.test import Client; from django.db import connections; "
        "print(any('prometheus' in m for m in s.MIDDLEWARE + s.INSTALLED_APPS), "
        "Client().get('/metrics').status_code, type(connections['default']).__mro__[1].__module__)"
    )
    result = run_django("config.settings.test", code=code, METRICS="off", DATABASE_URL="postgres://u:p@localhost/d")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "404", "django.db.backends.postgresql.base"]
