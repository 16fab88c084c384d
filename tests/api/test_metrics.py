"""GET /metrics: Prometheus's scrape, from inside the stack only (core/metrics.py)."""

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from django.db import connection

from tests.api.test_settings import run_django
from tests.helpers import ROOT, free_port

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


def test_gunicorn_reports_its_busy_and_total_request_threads_across_workers_and_its_start(tmp_path):
    """The prod image's gunicorn.conf.py, run here: 2 workers x 3 threads; a request waiting for its body is busy.
    Both workers report their master's start (a restart changes it: ServiceRestarting)."""
    port = free_port()
    launched = time.time()
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DJANGO_READ_DOT_ENV": "false",
        "PYTHONDONTWRITEBYTECODE": "1",  # no __pycache__ beside the config in docker/ (other tests read it)
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
        "WEB_CONCURRENCY": "2",
        "GUNICORN_THREADS": "3",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "docker/django/gunicorn.conf.py"),
         "--bind", f"127.0.0.1:{port}", "--chdir", str(ROOT / "src"), "config.wsgi"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip

    def threads(name: str) -> float:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            return sample_total(response.read().decode(), name)

    def until(name: str, expected: float) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                if threads(name) == expected:
                    return
            except OSError:
                pass
            assert server.poll() is None, server.stderr.read()
            assert time.monotonic() < deadline, f"{name} never read {expected}"
            time.sleep(0.2)

    try:
        until("gunicorn_threads", 6)
        assert threads("gunicorn_busy_threads") == 0  # the scrape is not counted
        assert launched < threads("gunicorn_start_time_seconds") < launched + 10
        # A request whose body is still on its way holds its thread.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as slow:
            slow.sendall(b"POST /api/v1/auth/token/refresh/ HTTP/1.1\r\nHost: localhost\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 20\r\n\r\n{")  # fmt: skip
            until("gunicorn_busy_threads", 1)
            slow.sendall(b'"refresh": "x"    }')
            slow.recv(1024)
        until("gunicorn_busy_threads", 0)
    finally:
        server.terminate()
        server.wait(timeout=30)


def sample_total(text: str, name: str) -> float:
    """A gauge without labels, as the multiprocess export gives it."""
    values = [float(line.split()[1]) for line in text.splitlines() if line.startswith(name + " ")]
    assert len(values) <= 1, values
    return values[0] if values else 0.0
