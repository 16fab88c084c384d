"""X-Request-ID: one id per request in the response, in every log line of it, and in the tasks it queues."""

import json
import logging
import re
from types import SimpleNamespace

import pytest

from config import celery as celery_app
from core import request_id
from core.logging import JsonFormatter

pytestmark = pytest.mark.django_db


class Records(logging.Handler):
    """What a logger emitted, through the filter LOGGING puts on the console handler."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.addFilter(request_id.RequestIdFilter())

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def django_request_log():
    handler = Records()
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def test_a_response_carries_a_fresh_id_or_nginxs(api):
    made = api.get("/api/v1/health/")["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert api.get("/api/v1/health/")["X-Request-ID"] != made
    assert api.get("/api/v1/health/", HTTP_X_REQUEST_ID="4f1c0ffee")["X-Request-ID"] == "4f1c0ffee"


def test_an_id_unfit_for_a_log_line_is_replaced(api):
    forged = 'x" injected="1\n'
    answered = api.get("/api/v1/health/", HTTP_X_REQUEST_ID=forged)["X-Request-ID"]
    assert answered != forged
    assert re.fullmatch(r"[0-9a-f]{32}", answered)


def test_djangos_log_lines_of_a_request_carry_its_id_in_json(api, django_request_log):
    response = api.get("/api/v1/no-such-thing/", HTTP_X_REQUEST_ID="req-404")
    assert response.status_code == 404
    (record,) = [r for r in django_request_log.records if "Not Found" in r.getMessage()]
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "req-404"
    assert line["level"] == "WARNING"


def test_a_task_queued_during_a_request_carries_its_id_to_the_worker():
    request_id.current.set("req-task")
    headers: dict = {}
    celery_app.pass_on_the_request_id(headers=headers)
    assert headers == {"request_id": "req-task"}

    request_id.current.set("")  # the worker's process, before the task
    task = SimpleNamespace(request=SimpleNamespace(is_eager=False, request_id="req-task"))
    celery_app.take_up_the_request_id(task=task)
    assert request_id.current.get() == "req-task"
    # A task beat queued (no request): its lines carry none, not the previous task's.
    celery_app.take_up_the_request_id(task=SimpleNamespace(request=SimpleNamespace(is_eager=False)))
    assert request_id.current.get() == ""
