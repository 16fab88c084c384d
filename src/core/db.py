"""Database helpers shared by the apps and their management commands."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction


@contextmanager
def long_transaction(lock_timeout: float = 0) -> Iterator[None]:
    """One transaction free of DATABASE_STATEMENT_TIMEOUT, for migrations and bulk loads.

    The timeout is there for the request path; a migration or a million-row load
    may rightly take minutes. SET LOCAL ends with the transaction, so a persistent
    connection goes back to the bounded default.

    `lock_timeout` (seconds; 0: none) bounds each wait for a lock instead: a
    statement queued for a table lock makes every later query on that table
    queue behind it, so waiting long on one stalls the app.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL statement_timeout = 0")
                if lock_timeout:
                    cursor.execute(f"SET LOCAL lock_timeout = {round(lock_timeout * 1000)}")
        yield
