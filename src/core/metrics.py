"""Prometheus's scrape of the app: GET /metrics, answered before anything else runs.

The request metrics themselves come from django-prometheus (its middleware and the
database backend core.postgres builds on). This is only the way they are read:

- first in MIDDLEWARE, so a scrape is neither counted as a request nor held to
  ALLOWED_HOSTS or the HTTPS redirect (Prometheus asks for http://web:8000/metrics);
- only from inside the stack's networks: nginx always sets X-Forwarded-For, so a
  request that passed through the front door carries it and goes on to routing,
  where /metrics is an ordinary 404 (nginx refuses the path too);
- under Gunicorn each worker writes its samples into PROMETHEUS_MULTIPROC_DIR
  (docker/django/gunicorn.conf.py) and the export sums them, whichever worker answers.
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django_prometheus.exports import ExportToDjangoView

PATH = "/metrics"


class MetricsEndpointMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == PATH and request.method == "GET" and "HTTP_X_FORWARDED_FOR" not in request.META:
            return ExportToDjangoView(request)
        return self.get_response(request)
