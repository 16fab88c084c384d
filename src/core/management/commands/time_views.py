"""How long Django itself takes per request, in-process: the ceiling behind every proxy and server.

`manage.py time_views /api/v1/products/ /api/v1/health/ --repeat 200` sends
each path through the full middleware stack with Django's test client (no
network, no server), as an HTTPS client of the first allowed host, and prints
JSON {path: median milliseconds} as its last line. A bearer token, when given,
goes with every request. With --uncached, the catalogue cache is emptied (its
version bumped, untimed) before each request: what a miss costs, not a hit.
"""

import json
import statistics
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.test import Client

from catalog import cache as catalog_cache


class Command(BaseCommand):
    help = "Median in-process milliseconds per request for each path (JSON on the last line)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", help="Paths to GET, e.g. /api/v1/products/")
        parser.add_argument("--repeat", type=int, default=200, help="Requests per path (default 200).")
        parser.add_argument("--token", default="", help="Bearer token to send (default: anonymous).")
        parser.add_argument(
            "--uncached", action="store_true", help="Empty the catalogue cache before each request (time a miss)."
        )

    def handle(self, *args, paths: list[str], repeat: int, token: str, uncached: bool, **options) -> None:
        host = next((h.lstrip(".") for h in settings.ALLOWED_HOSTS if h not in ("*", "")), "localhost")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = Client(HTTP_HOST=host, headers=headers)
        medians = {}
        for path in paths:
            status = client.get(path, secure=True).status_code  # warm: imports, connections, cache
            if status >= 400:
                self.stderr.write(f"{path} answered {status}")
            samples = []
            for _ in range(repeat):
                if uncached:
                    catalog_cache.invalidate()
                started = time.perf_counter()
                client.get(path, secure=True)
                samples.append((time.perf_counter() - started) * 1000)
            medians[path] = round(statistics.median(samples), 3)
        self.stdout.write(json.dumps(medians))
