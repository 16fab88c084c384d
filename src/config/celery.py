"""The Celery app: broker and result backend come from REDIS_URL (settings).

Worker and beat each keep a heartbeat file fresh while they are alive; the
container health checks (`python -m config.heartbeat worker|beat`) read it.
"""

import os

from celery import Celery, bootsteps
from celery.beat import PersistentScheduler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("desideliver")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Touch the worker's heartbeat file from the worker's own timer."""

    requires = {"celery.worker.components:Timer"}

    def start(self, worker) -> None:
        from . import heartbeat

        heartbeat.touch("worker")
        self.tref = worker.timer.call_repeatedly(heartbeat.INTERVAL, heartbeat.touch, ("worker",), priority=10)

    def stop(self, worker) -> None:
        from . import heartbeat

        if getattr(self, "tref", None):
            self.tref.cancel()
        heartbeat.remove("worker")


app.steps["worker"].add(WorkerHeartbeat)


class HeartbeatScheduler(PersistentScheduler):
    """The default beat scheduler, touching a heartbeat file on every tick."""

    def tick(self, *args, **kwargs) -> float:
        from . import heartbeat

        heartbeat.touch("beat")
        # Wake up at least every heartbeat interval so the file stays fresh.
        return min(super().tick(*args, **kwargs), heartbeat.INTERVAL)
