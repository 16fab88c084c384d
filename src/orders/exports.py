"""Orders as CSV for staff: one row per order item, in cells a spreadsheet never runs as formulas.

A queued export is a file in ORDER_EXPORT_DIR (in MEDIA_ROOT: the `media`
volume that prod's worker writes and web reads), named when it is asked for,
written by the worker, downloaded by staff and deleted after
ORDER_EXPORT_KEEP_DAYS.
"""

from __future__ import annotations

import csv
import os
import re
import secrets
import tempfile
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING

from django.conf import settings
from django.utils import timezone

from core.db import long_transaction

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


# An export's name: when it was asked for, and a random part so that two asked
# for in one second never share a file. Only such a name is ever opened: the
# name comes from a URL, so nothing else (a path, a temporary file, another
# file in the directory) can be reached through it.
NAME = re.compile(r"orders-\d{8}T\d{6}Z-[0-9a-f]{8}\.csv")
# Where an export is written until it is complete: never a NAME, so never served.
PARTIAL = re.compile(rf"\.{NAME.pattern}\.\w+\.partial")
EXAMPLE_NAME = "orders-20250131T120000Z-0a1b2c3d.csv"


def new_export_name() -> str:
    """A fresh export name (NAME), to be written by export_orders_csv."""
    return f"orders-{timezone.now():%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}.csv"


def export_file(name: str) -> Path:
    """Where the export `name` is, once written; ValueError when `name` is no export's name."""
    if not NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not an export's name (like {EXAMPLE_NAME})")
    return Path(settings.ORDER_EXPORT_DIR) / name


def write_export(name: str) -> int:
    """Write every order to the export `name`; the number of rows.

    Written to a temporary file beside it, renamed when complete (atomic within
    one directory): a download sees the whole export or none. A retry or a
    redelivered message writes its own temporary file and replaces the export
    whole.
    """
    from .models import Order

    final = export_file(name)
    final.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=final.parent, prefix=f".{name}.", suffix=".partial")
    try:
        with open(handle, "w", encoding="utf-8", newline="") as out, long_transaction():
            rows = write_orders_csv(Order.objects.order_by("pk"), out)
        os.replace(partial, final)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return rows


def delete_old_exports() -> int:
    """Delete the exports, and temporary files a crash left, not written to for ORDER_EXPORT_KEEP_DAYS; how many.

    Only files named as exports or their temporary files: anything else an
    operator put in the directory stays.
    """
    directory = Path(settings.ORDER_EXPORT_DIR)
    if not directory.is_dir():
        return 0  # no export was ever written
    cutoff = time.time() - settings.ORDER_EXPORT_KEEP_DAYS * 24 * 60 * 60
    deleted = 0
    for path in directory.iterdir():
        if not (NAME.fullmatch(path.name) or PARTIAL.fullmatch(path.name)):
            continue
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                deleted += 1
        except FileNotFoundError:
            continue  # deleted meanwhile, by another run
    return deleted
