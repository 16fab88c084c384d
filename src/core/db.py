"""Database helpers shared by the apps and their management commands."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction


@contextmanager
def long_transaction() -> Iterator[None]:
    """One transaction free of DATABASE_STATEMENT_TIMEOUT, for migrations and bulk loads.

    The timeout is there for the request path; a migration or a million-row load
    may rightly take minutes. SET LOCAL ends with the transaction, so a persistent
    connection goes back to the bounded default.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL statement_timeout = 0")
        yield
