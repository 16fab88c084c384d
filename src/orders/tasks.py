from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from core.tasks import RETRYING, TRANSIENT

from .exports import delete_old_exports, export_file, write_export

if TYPE_CHECKING:
    from django.core.mail.backends.base import BaseEmailBackend
    from django.db.models import QuerySet

    from .models import Order

logger = logging.getLogger(__name__)

# An order whose confirmation is not sent this long after it was placed is queued again.
SWEEP_AFTER = timedelta(minutes=2)

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
RECENT = timedelta(days=7)  # older unconfirmed orders are left alone
BATCH = 200


def unconfirmed(now: datetime) -> QuerySet[Order]:
    """Recent orders whose confirmation is not sent: what a run mails and the sweep looks for."""
    from .models import Order

    return Order.objects.filter(confirmation_sent_at__isnull=True, created_at__gt=now - RECENT)


def confirm(order: Order, connection: BaseEmailBackend | None = None) -> bool:
    """Mail `order`'s confirmation unless it was already; whether this call mailed it.

    The claim (an UPDATE of the row while unsent) holds the row's lock while
    the mail goes out, and is undone if sending fails: a second claim (a
    retry, a run beside this one) waits, then finds it sent. A crash between
    the mail server's acceptance and the commit mails it once more later:
    at least once, never zero times.
    """
    from .models import Order

    with transaction.atomic():
        claimed = Order.objects.filter(pk=order.pk, confirmation_sent_at__isnull=True).update(
            confirmation_sent_at=timezone.now()
        )
        if not claimed:
            return False
        lines = [f"- {i.quantity} x {i.product_name} @ {i.unit_price} = {i.line_total}" for i in order.items.all()]
        send_mail(
            subject=f"DesiDeliver order #{order.pk} confirmed",
            message="\n".join([f"Thank you for your order #{order.pk}.", "", *lines, "", f"Total: {order.total}"]),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[order.user.email],
            connection=connection,
        )
    logger.info("order confirmation sent: order=%s to=%s", order.pk, order.user.email)
    return True


@shared_task(**RETRYING)
def send_order_confirmation(order_id: int) -> str:
    """Mail one order's confirmation once, however often the task is queued or retried."""
    from .models import Order

    order = Order.objects.select_related("user").prefetch_related("items").get(pk=order_id)
    return "sent" if confirm(order) else "already sent"


@shared_task(**RETRYING)
def send_pending_confirmations() -> int:
    """Mail every recent order's confirmation not yet sent, each once, over one mail connection; how many.

    The flag is cleared first: an order committed from here on queues a run
    of its own, and one committed before is read below. A transient failure
    (mail server, database) retries the run, and what it mailed stays mailed;
    an order that fails otherwise is logged and left for the next run.
    """
    from django.core.mail import get_connection

    cache.delete(RUN_QUEUED)
    sent, after = 0, 0
    with get_connection() as connection:
        while batch := list(
            unconfirmed(timezone.now())
            .filter(pk__gt=after)
            .select_related("user")
            .prefetch_related("items")
            .order_by("pk")[:BATCH]
        ):
            for order in batch:
                try:
                    sent += confirm(order, connection)
                except TRANSIENT:
                    raise
                except Exception:
                    logger.exception("order %s: confirmation not sent; the next run tries again", order.pk)
            after = batch[-1].pk
    return sent


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
    now = timezone.now()
    late = unconfirmed(now).filter(created_at__lt=now - SWEEP_AFTER).count()
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
