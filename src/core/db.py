"""Database helpers shared by the apps and their management commands."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction


@contextmanager
def long_transaction(lock_timeout: float = 0) -> Iterator[None]:
    """One transaction free of DATABASE_STATEMENT_TIMEOUT, for migrations and bulk loads.

    The timeout is there for the request path; a migration, a million-row load or
    an export of every order may rightly take minutes. SET LOCAL ends with the transaction, so a persistent
    connection goes back to the bounded default.

    `lock_timeout` (seconds; 0: none) bounds each wait for a lock instead: a
    statement queued for a table lock makes every later query on that table
    queue behind it, so waiting long on one stalls the app.
    """
    with transaction.atomic():
        if connection.vendor != "postgresql":
            yield
            return
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL statement_timeout = 0")
            if lock_timeout:
                cursor.execute(f"SET LOCAL lock_timeout = {round(lock_timeout * 1000)}")
        # The client's own bound on each wait (core/postgres) goes too: a long statement of a live server
        # is the point here, and the server's lock_timeout must be the one that speaks first.
        client = connection.connection
        bounded = getattr(client, "wait_timeout", None)
        client.wait_timeout = None
        try:
            yield
        finally:
            client.wait_timeout = bounded
