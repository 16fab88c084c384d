"""Django's PostgreSQL backend, with every wait on the server bounded.

A stalled server (paused, frozen disk, a network that drops packets without a
reset) never answers, and libpq waits for ever: each request that needed the
database held a web thread until Gunicorn killed the worker 30 s later. Here:

- every wait on the server ends after DATABASE_STATEMENT_TIMEOUT plus a second
  (the server cancels a slow statement itself before that; only a server that
  stopped answering gets there);
- a reused connection's health check (CONN_HEALTH_CHECKS) gets half a second;
- a connection attempt gets `connect_timeout` (settings: 2 s, libpq's least);
- after a timeout, this process fails new connections at once for a second
  instead of queueing every request behind another attempt.

The API answers 503 for any of these (core/exceptions.py). ENGINE: "core.postgres".
"""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
from django.conf import settings
from django.db.backends.postgresql import base

HEALTH_CHECK_SECONDS = 0.5
BACKOFF_SECONDS = 1.0


class BoundedConnection(psycopg.Connection):
    """A psycopg connection whose waits end after `wait_timeout` seconds (None: never)."""

    wait_timeout: float | None = None

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        return super().wait(gen, interval=interval, timeout=self.wait_timeout if timeout is None else timeout)


class _Psycopg:
    """The psycopg module as Django's backend uses it, whose connect() makes BoundedConnections."""

    connect = staticmethod(BoundedConnection.connect)

    def __getattr__(self, name: str) -> Any:
        return getattr(psycopg, name)


class _Backoff:
    """Per process: after a wait timed out, connection attempts fail at once until `until`."""

    def __init__(self) -> None:
        self.until = 0.0
        self.lock = threading.Lock()

    def trip(self) -> None:
        with self.lock:
            self.until = time.monotonic() + BACKOFF_SECONDS

    def check(self) -> None:
        if time.monotonic() < self.until:
            raise psycopg.OperationalError("the database did not answer moments ago; not retrying yet")


backoff = _Backoff()


if settings.METRICS:
    # django-prometheus's wrapper of Django's own: queries, their time and errors, and connections, counted.
    from django_prometheus.db.backends.postgresql.base import DatabaseWrapper as Parent
else:
    Parent = base.DatabaseWrapper


class DatabaseWrapper(Parent):
    Database = _Psycopg()

    def wait_timeout(self) -> float | None:
        statement_timeout = self.settings_dict.get("STATEMENT_TIMEOUT", 0)
        return statement_timeout + 1 if statement_timeout else None

    def get_new_connection(self, conn_params: dict) -> BoundedConnection:
        backoff.check()
        started = time.monotonic()
        try:
            connection = super().get_new_connection(conn_params)
        except psycopg.OperationalError:
            if time.monotonic() - started >= float(conn_params.get("connect_timeout", 0) or 0) > 0:
                backoff.trip()
            raise
        connection.wait_timeout = self.wait_timeout()
        return connection

    def is_usable(self) -> bool:
        if self.connection is None:
            return False
        self.connection.wait_timeout = HEALTH_CHECK_SECONDS
        started = time.monotonic()
        try:
            usable = super().is_usable()
        finally:
            if self.connection is not None:
                self.connection.wait_timeout = self.wait_timeout()
        if not usable and time.monotonic() - started >= HEALTH_CHECK_SECONDS:
            backoff.trip()
        return usable
