import csv
import logging
import smtplib
from datetime import timedelta
from pathlib import Path
from typing import IO

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

# Failures worth another try: the mail server, the network or the database hiccuped.
TRANSIENT = (smtplib.SMTPException, ConnectionError, TimeoutError, OperationalError, InterfaceError)
# An order whose confirmation is not sent this long after it was placed is queued again.
SWEEP_AFTER = timedelta(minutes=2)

CSV_HEADER = [
    "order_id",
    "created_at",
    "customer_email",
    "status",
    "product",
    "unit_price",
    "quantity",
    "line_total",
    "order_total",
]


# No result stored: nothing reads it, and one that may be read costs the web
# process a subscription to the result's channel for every order it queues.
@shared_task(
    bind=True, ignore_result=True, autoretry_for=TRANSIENT, retry_backoff=True, retry_backoff_max=600, max_retries=8
)
def send_order_confirmation(self, order_id: int) -> str:
    """Mail the confirmation once per order, however often the task is queued or retried.

    The order row stays locked while the mail goes out, so a second copy of
    the task (a retry, the sweep) waits, then finds it sent.
    """
    from .models import Order

    with transaction.atomic():
        order = Order.objects.select_for_update(of=("self",)).select_related("user").get(pk=order_id)
        if order.confirmation_sent_at:
            return "already sent"
        lines = [f"- {i.quantity} x {i.product_name} @ {i.unit_price} = {i.line_total}" for i in order.items.all()]
        send_mail(
            subject=f"DesiDeliver order #{order.pk} confirmed",
            message="\n".join([f"Thank you for your order #{order.pk}.", "", *lines, "", f"Total: {order.total}"]),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[order.user.email],
        )
        order.confirmation_sent_at = timezone.now()
        order.save(update_fields=["confirmation_sent_at"])
    logger.info("order confirmation sent: order=%s to=%s", order.pk, order.user.email)
    return "sent"


def queue_confirmation(order_id: int) -> None:
    """Queue the confirmation now if the broker answers; the sweep queues it later if not.

    Called after the order committed: a broker outage must never turn a placed
    order into an error for the customer.
    """
    try:
        send_order_confirmation.apply_async((order_id,), retry=False)
    except Exception:  # any broker or connection failure: the order stands
        logger.warning("order %s: confirmation not queued now (broker unavailable); the sweep will", order_id)


@shared_task(autoretry_for=TRANSIENT, retry_backoff=True, max_retries=3)
def queue_unconfirmed_orders() -> int:
    """Queue again every recent order whose confirmation was not sent (a lost message, a broker outage)."""
    from .models import Order

    now = timezone.now()
    pending = Order.objects.filter(
        confirmation_sent_at__isnull=True, created_at__lt=now - SWEEP_AFTER, created_at__gt=now - timedelta(days=7)
    ).values_list("pk", flat=True)
    for order_id in pending:
        send_order_confirmation.delay(order_id)
    return len(pending)


# A cell starting with one of these is a formula to a spreadsheet (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> object:
    """`value` as a spreadsheet shows it, never runs it: text that looks like a formula gets a leading quote."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_orders_csv(orders, out: IO[str]) -> int:
    """Write one CSV row per order item; returns the number of rows."""
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    rows = 0
    for order in orders.select_related("user").prefetch_related("items").iterator(chunk_size=500):
        for item in order.items.all():
            writer.writerow(
                cell(value)
                for value in [
                    order.pk,
                    order.created_at.isoformat(),
                    order.user.email,
                    order.status,
                    item.product_name,
                    item.unit_price,
                    item.quantity,
                    item.line_total,
                    order.total,
                ]
            )
            rows += 1
    return rows


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=3)
def export_orders_csv() -> str:
    """Write all orders to ORDER_EXPORT_DIR; returns the file's path.

    Written to a temporary name and renamed when complete, so a reader never
    sees a half-written export.
    """
    from .models import Order

    directory = Path(settings.ORDER_EXPORT_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"orders-{timezone.now():%Y%m%dT%H%M%SZ}.csv"
    partial = final.with_suffix(".csv.partial")
    with partial.open("w", newline="") as out:
        rows = write_orders_csv(Order.objects.order_by("pk"), out)
    partial.replace(final)
    logger.info("orders exported: %s (%d rows)", final, rows)
    return str(final)
