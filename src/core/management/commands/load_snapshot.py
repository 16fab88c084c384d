"""Load a dumpdata snapshot in one transaction (db.transfer's target side)."""

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.core.management.color import no_style
from django.db import connection

from core.db import long_transaction

from .model_counts import concrete_models, model_counts

# Rebuilt by migrate on every database; a snapshot never carries them.
REBUILT = {"contenttypes.ContentType", "auth.Permission"}


class Command(BaseCommand):
    help = (
        "Load FILE (from dumpdata) in one transaction and reset the sequences. Refuses a database that holds "
        "data unless --replace, which empties it inside the same transaction."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file")
        parser.add_argument("--replace", action="store_true", help="Empty the database first (same transaction).")

    def handle(self, *args, file: str, replace: bool, **options) -> None:
        holding = {label: n for label, n in model_counts().items() if n and label not in REBUILT}
        if holding and not replace:
            raise CommandError(
                "the target database already holds data ("
                + ", ".join(f"{label}: {n}" for label, n in sorted(holding.items()))
                + "); nothing was changed. Confirm replacing it to go on."
            )
        with long_transaction():
            if replace:
                tables = [
                    t
                    for t in connection.introspection.django_table_names(only_existing=True)
                    if t not in ("django_content_type", "auth_permission", "django_migrations")
                ]
                for sql in connection.ops.sql_flush(no_style(), tables, reset_sequences=False, allow_cascade=True):
                    with connection.cursor() as cursor:
                        cursor.execute(sql)
            call_command("loaddata", file, verbosity=0)
            # loaddata sets explicit ids; new rows must not collide with them.
            for sql in connection.ops.sequence_reset_sql(no_style(), concrete_models()):
                with connection.cursor() as cursor:
                    cursor.execute(sql)
        self.stdout.write(f"loaded {file} in one transaction; sequences reset")
