"""Readiness from inside a container that serves nothing (a swarm job): the checks of /api/v1/health/ready/."""

from django.core.management.base import BaseCommand, CommandError

from core.health import check_all


class Command(BaseCommand):
    help = "Check the database, the cache and the migrations as readiness does; exit 1 naming what failed."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--timeout", type=float, default=10.0, help="Seconds the checks may take (default: 10).")

    def handle(self, *args, timeout: float, **options) -> None:
        results = check_all(timeout=timeout)
        failed = sorted(name for name, result in results.items() if result != "ok")
        if failed:
            raise CommandError(f"not ready: {', '.join(failed)} failed (the reasons are logged above)")
        self.stdout.write("ready: " + ", ".join(f"{name} ok" for name in sorted(results)))
