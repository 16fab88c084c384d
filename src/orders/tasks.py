import csv
import logging
import smtplib
from pathlib import Path
from typing import IO

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

logger = logging.getLogger(__name__)

# Failures worth another try: the mail server or network hiccuped.
TRANSIENT = (smtplib.SMTPException, ConnectionError, TimeoutError)

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


@shared_task(bind=True, autoretry_for=TRANSIENT, retry_backoff=True, retry_backoff_max=600, max_retries=5)
def send_order_confirmation(self, order_id: int) -> str:
    from .models import Order

    order = Order.objects.select_related("user").prefetch_related("items").get(pk=order_id)
    if order.confirmation_sent_at:  # a retry after a partial failure must not mail twice
        return "already sent"
    lines = [f"- {i.quantity} x {i.product_name} @ {i.unit_price} = {i.line_total}" for i in order.items.all()]
    send_mail(
        subject=f"DesiDeliver order #{order.pk} confirmed",
        message="\n".join([f"Thank you for your order #{order.pk}.", "", *lines, "", f"Total: {order.total}"]),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[order.user.email],
    )
    Order.objects.filter(pk=order.pk).update(confirmation_sent_at=timezone.now())
    logger.info("order confirmation sent: order=%s to=%s", order.pk, order.user.email)
    return "sent"


def write_orders_csv(orders, out: IO[str]) -> int:
    """Write one CSV row per order item; returns the number of rows."""
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    rows = 0
    for order in orders.select_related("user").prefetch_related("items").iterator(chunk_size=500):
        for item in order.items.all():
            writer.writerow(
                [
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
