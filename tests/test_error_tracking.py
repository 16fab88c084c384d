"""Optional error tracking (SENTRY_DSN, config/settings/production.py): off sends nothing; on, no personal data."""

import gzip
import http.server
import os
import subprocess
import sys
import threading

import pytest

from tests.helpers import ROOT, free_port

# A production process as the image runs it, on placeholders: no server it names is up, so the
# request below fails on the database and is answered 503, logged as an error.
SETTINGS = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "DJANGO_READ_DOT_ENV": "false",
    "SECRET_KEY": "error-tracking-test-placeholder-" + "x" * 32,
    "ALLOWED_HOSTS": "testserver",
    "EMAIL_URL": "consolemail://",
    "DATABASE_URL": "postgres://app@127.0.0.1:1/shop",
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "SECURE_SSL_REDIRECT": "false",
    "SENTRY_RELEASE": "abc1234",
}
REQUEST = """
import django, sentry_sdk
django.setup()
from django.test import Client
response = Client(raise_request_exception=False).get(
    "/api/v1/products/?search=tea", HTTP_COOKIE="sessionid=leaked-session-4242; csrftoken=leaked-csrf-4242"
)
print(response.status_code, sentry_sdk.is_initialized())
sentry_sdk.flush(timeout=10)
"""


class Receiver(http.server.BaseHTTPRequestHandler):
    """Sentry's ingest endpoint, as far as the SDK needs it: every envelope kept, decompressed."""

    envelopes: list[str] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.envelopes.append(body.decode())
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def receiver():
    Receiver.envelopes = []
    server = http.server.HTTPServer(("127.0.0.1", free_port()), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    thread.join(timeout=10)


def run_request(**extra: str) -> str:
    env = {"PATH": os.environ["PATH"], "PYTHONDONTWRITEBYTECODE": "1", **SETTINGS, **extra}
    done = subprocess.run([sys.executable, "-c", REQUEST], cwd=ROOT / "src", env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_without_a_dsn_nothing_is_set_up_and_nothing_is_sent(receiver):
    assert run_request() == "503 False"
    assert Receiver.envelopes == []


def test_with_a_dsn_the_error_arrives_with_its_release_and_without_the_clients_cookies(receiver):
    dsn = f"http://publickey@127.0.0.1:{receiver.server_port}/1"
    assert run_request(SENTRY_DSN=dsn, SENTRY_ENVIRONMENT="staging") == "503 True"
    events = [envelope for envelope in Receiver.envelopes if '"type":"event"' in envelope.replace(" ", "")]
    assert events, Receiver.envelopes
    event = events[0]
    assert "database unavailable" in event  # core.exceptions' error line, with the request it failed
    assert '"release":"abc1234"' in event.replace(" ", "")
    assert '"environment":"staging"' in event.replace(" ", "")
    assert "/api/v1/products/" in event
    for envelope in Receiver.envelopes:
        assert "leaked-session-4242" not in envelope
        assert "leaked-csrf-4242" not in envelope
