"""A stalled PostgreSQL (its backend process stopped, as `docker compose pause db` does) never hangs a request."""

import os
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection

from core.postgres import base as bounded
from tests.helpers import client_for

pytestmark = [
    pytest.mark.postgres("stops a PostgreSQL backend process"),
    pytest.mark.django_db(transaction=True),
]


@contextmanager
def stalled():
    """The server side of this test's connection stops answering, like a paused container, until the block ends."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        command = b""
    if b"postgres" not in command:  # that pid is the server's, in another container or host: not ours to stop
        pytest.skip("the PostgreSQL server runs outside this process's view (./inv test on the host runs this)")
    os.kill(pid, signal.SIGSTOP)  # .ci/run runs PostgreSQL on this host, as a user root may signal
    # Unbounded waits would hang the suite: the server answers again after 10 s whatever happens, so such
    # a wait ends, late, and the test fails on the time it took instead.
    watchdog = threading.Timer(10, os.kill, (pid, signal.SIGCONT))
    watchdog.start()
    try:
        yield
    finally:
        watchdog.cancel()
        os.kill(pid, signal.SIGCONT)
        connection.close()  # a wait that timed out left it mid-protocol
        bounded.backoff.until = 0.0


@pytest.fixture
def shopper(make_user):
    return client_for(make_user("stall@example.com"))


def test_a_query_on_a_stalled_server_answers_503_in_the_wait_bound(shopper):
    connection.ensure_connection()
    connection.connection.wait_timeout = 1.0  # DATABASE_STATEMENT_TIMEOUT + 1 s in service; shorter here
    with stalled():
        started = time.monotonic()
        response = shopper.get("/api/v1/cart/")
        took = time.monotonic() - started
    assert response.status_code == 503
    assert response.json() == {"detail": "The service is briefly unavailable; try again in a moment."}
    assert response["Retry-After"] == "5"
    assert took < 2
    assert shopper.get("/api/v1/cart/").status_code == 200  # at once after the server answers again


def test_a_health_check_on_a_stalled_server_fails_fast_and_new_connections_back_off(shopper):
    connection.ensure_connection()
    with stalled():
        started = time.monotonic()
        assert connection.is_usable() is False
        assert time.monotonic() - started < bounded.HEALTH_CHECK_SECONDS + 0.5
        connection.close()
        started = time.monotonic()
        with pytest.raises(Exception, match="did not answer moments ago"):
            connection.ensure_connection()
        assert time.monotonic() - started < 0.1  # no second wait for a server that just timed out
    connection.ensure_connection()
    assert connection.is_usable()


def test_every_connection_is_bounded_by_the_statement_timeout_plus_a_second():
    connection.ensure_connection()
    assert connection.connection.wait_timeout == 6.0  # DATABASE_STATEMENT_TIMEOUT (5 s) + 1 s


def test_a_long_transaction_lifts_the_clients_bound_too_and_puts_it_back():
    from core.db import long_transaction

    connection.ensure_connection()
    client = connection.connection
    client.wait_timeout = 0.2
    try:
        with long_transaction(), connection.cursor() as cursor:
            assert client.wait_timeout is None
            cursor.execute("SELECT pg_sleep(0.5)")  # longer than the bound: a migration's index build, in small
        assert client.wait_timeout == 0.2
    finally:
        connection.close()  # the next test connects with the configured bound
