"""The Celery app: broker and result backend come from REDIS_URL (settings).

Worker and beat each keep a heartbeat file fresh while they are alive; the
container health checks (`python -m healthcheck worker|beat`) read it.
"""

import os

from celery import Celery, bootsteps
from celery.beat import PersistentScheduler
from celery.signals import before_task_publish, task_postrun, task_prerun

import healthcheck
from core import request_id

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


@task_prerun.connect
@task_postrun.connect
def recycle_database_connections(sender, **kwargs) -> None:
    """Around each task, what Django does around each request: close a connection that broke or outlived CONN_MAX_AGE.

    The rest are kept (settings CELERY_DB_REUSE_MAX). Not for a task run
    in-process (eager): that one shares its caller's connection, maybe
    inside the caller's transaction.
    """
    from django.db import close_old_connections

    if not sender.request.is_eager:
        close_old_connections()


@before_task_publish.connect
def pass_on_the_request_id(headers: dict | None = None, **kwargs) -> None:
    """A task queued while a request is served carries its id (core/request_id.py)."""
    if headers is not None and (current := request_id.current.get()):
        headers.setdefault("request_id", current)


@task_prerun.connect
def take_up_the_request_id(task=None, **kwargs) -> None:
    """The worker's log lines of the task carry the id of the request that queued it ("" for beat's)."""
    if task is not None and not task.request.is_eager:
        request_id.current.set(getattr(task.request, "request_id", None) or "")


class HeartbeatScheduler(PersistentScheduler):
    """The default beat scheduler, touching a heartbeat file on every tick."""

    def tick(self, *args, **kwargs) -> float:
        healthcheck.touch("beat")
        # Wake up at least every heartbeat interval so the file stays fresh.
        return min(super().tick(*args, **kwargs), healthcheck.INTERVAL)
