"""The Celery app: broker and result backend come from REDIS_URL (settings).

Worker and beat each keep a heartbeat file fresh while they are alive; the
container health checks (`python -m healthcheck worker|beat`) read it.
"""

import os

from celery import Celery, bootsteps
from celery.beat import PersistentScheduler

import healthcheck

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("desideliver")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Touch the worker's heartbeat file from the worker's own timer."""

    requires = {"celery.worker.components:Timer"}

    def start(self, worker) -> None:
        healthcheck.touch("worker")
        self.tref = worker.timer.call_repeatedly(healthcheck.INTERVAL, healthcheck.touch, ("worker",), priority=10)

    def stop(self, worker) -> None:
        if getattr(self, "tref", None):
            self.tref.cancel()
        healthcheck.remove("worker")


app.steps["worker"].add(WorkerHeartbeat)


class HeartbeatScheduler(PersistentScheduler):
    """The default beat scheduler, touching a heartbeat file on every tick."""

    def tick(self, *args, **kwargs) -> float:
        healthcheck.touch("beat")
        # Wake up at least every heartbeat interval so the file stays fresh.
        return min(super().tick(*args, **kwargs), healthcheck.INTERVAL)
