"""The orders' Celery tasks, thin over orders.confirmations and orders.exports; and when a confirmation run is queued.

Task names are module paths (orders.tasks.<function>): beat's schedule and queued
messages refer to them.
"""

import logging

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from core.tasks import RETRYING, TRANSIENT

from . import confirmations
from .exports import delete_old_exports, export_file, write_export

logger = logging.getLogger(__name__)

# Confirmations are mailed in runs: a run mails every recent order not yet
# confirmed. An order queues a run, starting a second later, only when none is
# queued already (this flag, in the cache), so under load one run mails every
# order of that second and the worker's per-task cost is paid once for them
# all (a task per order cost the worker a third of the cores at 150 orders/s).
# The flag expires, so a lost run costs at most this long before an order
# queues another; the sweep is the net under both.
RUN_QUEUED = "orders:confirmation-run-queued"
RUN_QUEUED_SECONDS = 30
RUN_DELAY_SECONDS = 1


@shared_task(**RETRYING)
def send_order_confirmation(order_id: int) -> str:
    """Mail one order's confirmation once, however often the task is queued or retried."""
    return "sent" if confirmations.confirm_order(order_id) else "already sent"


@shared_task(**RETRYING)
def send_pending_confirmations() -> int:
    """Mail every recent order's confirmation not yet sent, each once (confirmations.confirm_pending); how many.

    The flag is cleared first: an order committed from here on queues a run
    of its own, and one committed before is mailed by this one. A transient
    failure retries the run.
    """
    cache.delete(RUN_QUEUED)
    return confirmations.confirm_pending()


def queue_confirmation(order_id: int) -> None:
    """Make sure a run of send_pending_confirmations is queued to mail `order_id`'s confirmation.

    Called after the order committed: a broker outage must never turn a placed
    order into an error for the customer; the sweep queues a run later.
    """
    if cache.add(RUN_QUEUED, order_id, RUN_QUEUED_SECONDS) is False:
        return  # a run is queued and has not started: it reads this order (None: the cache is down, so queue)
    try:
        send_pending_confirmations.apply_async(countdown=RUN_DELAY_SECONDS, retry=False)
    except Exception:  # any broker or connection failure: the order stands
        cache.delete(RUN_QUEUED)
        logger.warning("order %s: confirmation not queued now (broker unavailable); the sweep will", order_id)


@shared_task(autoretry_for=TRANSIENT, retry_backoff=True, max_retries=3)
def queue_unconfirmed_orders() -> int:
    """Queue a run if a recent order's confirmation is still not sent (a lost message, a broker outage); how many."""
    late = confirmations.count_overdue()
    if late:
        send_pending_confirmations.delay()
    return late


# No result stored: the export's download URL says when it is ready.
@shared_task(ignore_result=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=3)
def export_orders_csv(name: str) -> str:
    """Write every order to the export `name` (orders.exports: complete or absent, never half-written); its path."""
    rows = write_export(name)
    path = export_file(name)
    logger.info("orders exported: %s (%d rows)", path, rows)
    return str(path)


@shared_task(ignore_result=True)
def purge_old_exports() -> int:
    """Delete exports older than ORDER_EXPORT_KEEP_DAYS (beat runs this hourly); how many."""
    deleted = delete_old_exports()
    logger.info(
        "purge_old_exports: deleted %d export file(s) older than %d days", deleted, settings.ORDER_EXPORT_KEEP_DAYS
    )
    return deleted
