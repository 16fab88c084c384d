"""Gunicorn settings for the prod image (every value overridable by env)."""

import os
import shutil
import time
from pathlib import Path

import environ

# Prometheus (core/metrics.py): each worker writes its samples to files here and a scrape,
# answered by any one worker, sums them. Set before the workers import prometheus_client,
# which chooses file-backed values at import; a tmpfs, emptied at each start.
METRICS_DIR = Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", "/tmp/prometheus"))  # noqa: S108 - the tmpfs
# Read as Django's settings read it; prod sets it from MONITORING.
METRICS = environ.Env().bool("METRICS", default=True)
# Read once, in the master: every worker it forks reports the same start (ServiceRestarting's clue).
STARTED = time.time()

bind = "0.0.0.0:8000"
# Processes x threads: threads overlap the waits on PostgreSQL and Redis, and
# keep connections alive. Set explicitly: cpu_count() sees the host's CPUs,
# not the container's limit. Sizing: docs/performance.md.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# The heartbeat file must not live on a (read-only or slow) disk.
worker_tmp_dir = "/dev/shm"  # noqa: S108 - a RAM-backed mount, not a shared temp dir
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# Must stay below the service's stop_grace_period (35 s in compose/prod) so
# in-flight requests finish before the engine sends SIGKILL.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "25"))
# Longer than nginx's idle upstream connections, so nginx closes them first.
keepalive = 75
# Off by default: a max_requests of 1000 halved throughput on a 2-core host
# (every recycle re-imports Django). Set it only to contain a known leak.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10
# Only the proxy can reach port 8000 (no published port), so trust its
# X-Forwarded-* headers from any address on the compose network.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "*")
# Off by default: the proxy keeps the access log (docker/nginx/desideliver.conf);
# GUNICORN_ACCESS_LOG=- writes one here too, e.g. to debug without the proxy.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
# gunicorn 25+ opens a control socket (gunicornc) under $HOME by default; the root is
# read-only, and scaling and reloads are the orchestrator's job here, not a socket's.
control_socket_disable = True
# %(M)s: request time in milliseconds.
access_log_format = '%({x-forwarded-for}i)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'


def on_starting(server: object) -> None:
    # Samples of a previous run's workers would be summed in as if alive.
    shutil.rmtree(METRICS_DIR, ignore_errors=True)
    METRICS_DIR.mkdir(parents=True, exist_ok=True)


def child_exit(server: object, worker: object) -> None:
    # A dead worker's gauges leave the sums; its counters stay (they only ever add up).
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]


def post_worker_init(worker: object) -> None:
    # Busy and total request threads, summed over the live workers: saturation (every thread
    # busy, so requests wait in the listen backlog) shows here before it shows as latency.
    # Gunicorn has statsd for this, not Prometheus; two livesum gauges are the whole of it.
    if not METRICS:
        return
    from prometheus_client import Gauge

    help_total = "Request threads of the live Gunicorn workers (WEB_CONCURRENCY x GUNICORN_THREADS)."
    Gauge("gunicorn_threads", help_total, multiprocess_mode="livesum", registry=None).set(threads)
    help_start = "When this container's Gunicorn master started (Unix time): a change is a restart."
    Gauge("gunicorn_start_time_seconds", help_start, multiprocess_mode="max", registry=None).set(STARTED)
    help_busy = "Gunicorn request threads handling a request now."
    worker.busy_threads = Gauge("gunicorn_busy_threads", help_busy, multiprocess_mode="livesum", registry=None)  # type: ignore[attr-defined]


def counted(worker: object, req: object) -> bool:
    # Prometheus's own scrape (core/metrics.py's path) is left out: an idle web reads 0 busy.
    return hasattr(worker, "busy_threads") and req.path != "/metrics"  # type: ignore[attr-defined]


def pre_request(worker: object, req: object) -> None:
    if counted(worker, req):
        worker.busy_threads.inc()  # type: ignore[attr-defined]


def post_request(worker: object, req: object, environ: dict, resp: object) -> None:
    if counted(worker, req):
        worker.busy_threads.dec()  # type: ignore[attr-defined]
