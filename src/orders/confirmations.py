"""Order confirmations: each order's mailed at least once and, however many runs or retries meet it, once.

The worker's tasks (orders.tasks) run these; orders.tasks also decides when a run is queued.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.mail import get_connection, send_mail
from django.db import transaction
from django.utils import timezone

from core.tasks import TRANSIENT

if TYPE_CHECKING:
    from django.core.mail.backends.base import BaseEmailBackend
    from django.db.models import QuerySet

    from .models import Order

logger = logging.getLogger(__name__)

# An order whose confirmation is not sent this long after it was placed is queued again.
SWEEP_AFTER = timedelta(minutes=2)
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


def confirm_order(order_id: int) -> bool:
    """Mail the order `order_id`'s confirmation unless it was already; whether this call mailed it."""
    from .models import Order

    return confirm(Order.objects.select_related("user").prefetch_related("items").get(pk=order_id))


def confirm_pending() -> int:
    """Mail every recent order's confirmation not yet sent, each once, over one mail connection; how many.

    A transient failure (mail server, database) is raised, for the run to be
    retried, and what it mailed stays mailed; an order that fails otherwise
    is logged and left for the next run.
    """
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


def count_overdue() -> int:
    """How many recent orders are still unconfirmed SWEEP_AFTER after they were placed (a lost run, a broker outage)."""
    now = timezone.now()
    return unconfirmed(now).filter(created_at__lt=now - SWEEP_AFTER).count()
