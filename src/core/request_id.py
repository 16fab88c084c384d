"""One id per request, found in nginx's access log, Django's log lines and the Celery tasks it queued.

nginx makes the id ($request_id) and passes it as X-Request-ID, which it returns
to the client too; without nginx (the dev server) Django makes one. The id lives
in a context variable: every log record gets it (RequestIdFilter, in LOGGING), and
a task queued while it is set carries it to the worker (config/celery.py).
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
# nginx's are 32 hex digits; anything else a client made up must not reach a log line as is.
VALID = re.compile(r"[A-Za-z0-9._-]{1,64}")

current: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = given if VALID.fullmatch(given) else uuid.uuid4().hex
        # Not reset on the way out: Django logs a 4xx or 5xx after the middleware returns, and
        # the next request on this thread sets its own.
        current.set(request_id)
        response = self.get_response(request)
        response[HEADER] = request_id
        return response


class RequestIdFilter(logging.Filter):
    """Adds `request_id` (or "") to every record, for the formatters."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current.get()
        return True
