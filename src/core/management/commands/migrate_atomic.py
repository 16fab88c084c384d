"""Apply every pending migration in one transaction: all of them, or none.

Django runs each migration in its own transaction; when the third of three
fails, the first two stay applied and the schema matches neither the old code
nor the new. On PostgreSQL DDL is transactional, so wrapping the whole run in
one transaction makes a failed deploy leave the schema exactly as it was.

A migration that must wait for a lock (a long transaction holds the table)
gives up after MIGRATION_LOCK_TIMEOUT seconds: while it waits, every query
on that table queues behind it, and the site stalls with it.
"""

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import OperationalError

from core.db import long_transaction

LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE for "canceling statement due to lock timeout"
# The open transactions, oldest first: the one holding the lock is usually at the top.
FIND_LONG_TRANSACTIONS = (
    "SELECT pid, now() - xact_start AS age, state, query FROM pg_stat_activity "
    "WHERE xact_start IS NOT NULL ORDER BY xact_start;"
)


class Command(BaseCommand):
    help = "Apply all pending migrations in one transaction (all or none), waiting MIGRATION_LOCK_TIMEOUT for locks."

    def handle(self, *args, **options) -> None:
        timeout = settings.MIGRATION_LOCK_TIMEOUT
        try:
            with long_transaction(lock_timeout=timeout):
                call_command("migrate", interactive=False, verbosity=options["verbosity"])
        except OperationalError as exc:
            if getattr(exc.__cause__, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                raise
            raise CommandError(
                f"A migration waited more than {timeout:g} s for a lock (MIGRATION_LOCK_TIMEOUT) and gave up; "
                "no migration was applied. A long-running transaction holds a lock on a table it changes. "
                f"Retry once that transaction has ended. To find it (./inv db.psql): {FIND_LONG_TRANSACTIONS} "
                f"(SELECT pg_terminate_backend(pid) ends it). PostgreSQL said: {exc}".strip()
            ) from exc
