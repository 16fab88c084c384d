"""Wait until the default database answers a query, for container start-up."""

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.utils import OperationalError


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
                if time.monotonic() >= deadline:
                    raise CommandError(
                        f"database at {where} did not accept queries within {timeout:g}s; last error: "
                        f"{str(exc).strip().splitlines()[0]}. Check that the db service is running and healthy "
                        "(inv dev.ps / inv dev.logs -s db) and that DATABASE_URL and its password are right."
                    ) from exc
                time.sleep(interval)
