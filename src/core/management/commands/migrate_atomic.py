"""Apply every pending migration in one transaction: all of them, or none.

Django runs each migration in its own transaction; when the third of three
fails, the first two stay applied and the schema matches neither the old code
nor the new. On PostgreSQL DDL is transactional, so wrapping the whole run in
one transaction makes a failed deploy leave the schema exactly as it was.
"""

from django.core.management import call_command
from django.core.management.base import BaseCommand

from core.db import long_transaction


class Command(BaseCommand):
    help = "Apply all pending migrations in one transaction (all or none)."

    def handle(self, *args, **options) -> None:
        with long_transaction():
            call_command("migrate", interactive=False, verbosity=options["verbosity"])
