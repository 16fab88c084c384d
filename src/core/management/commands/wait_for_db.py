"""Wait until the default database answers a query, for container start-up."""

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.utils import OperationalError

# Errors that waiting cannot fix: fail at once, naming the likely cause.
FATAL = {
    "password authentication failed": (
        "the database refused the password. With an existing database volume the password is the one it was "
        "first created with: put that POSTGRES_PASSWORD back in the env file, or (dev only, deletes its data) "
        "remove the volume with ./inv dev.down --volumes"
    ),
    "does not exist": "the role or database named in DATABASE_URL does not exist on that server",
}


class Command(BaseCommand):
    help = "Block until the database accepts queries; fail with the last error after --timeout seconds."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--timeout", type=float, default=60.0, help="Seconds to wait (default: 60).")
        parser.add_argument("--interval", type=float, default=0.5, help="Seconds between tries (default: 0.5).")

    def handle(self, *args, timeout: float, interval: float, **options) -> None:
        deadline = time.monotonic() + timeout
        settings = connection.settings_dict
        where = f"{settings.get('HOST') or 'local socket'}:{settings.get('PORT') or 'default port'}"
        while True:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT 1")
                return
            except OperationalError as exc:
                connection.close()
                first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                for symptom, cause in FATAL.items():
                    if symptom in str(exc):
                        raise CommandError(f"database at {where}: {first_line}. Likely cause: {cause}.") from exc
                if time.monotonic() >= deadline:
                    raise CommandError(
                        f"database at {where} did not accept queries within {timeout:g}s; last error: "
                        f"{first_line}. Check that the db service is running and healthy "
                        "(inv dev.ps / inv dev.logs -s db) and that DATABASE_URL and its password are right."
                    ) from exc
                time.sleep(interval)
