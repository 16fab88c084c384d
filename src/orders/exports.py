"""Orders as CSV for staff: one row per order item, in cells a spreadsheet never runs as formulas."""

from __future__ import annotations

import csv
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from .models import Order


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


# A cell starting with one of these is a formula to a spreadsheet (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> object:
    """`value` as a spreadsheet shows it, never runs it: text that looks like a formula gets a leading quote."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_orders_csv(orders: QuerySet[Order], out: IO[str]) -> int:
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
