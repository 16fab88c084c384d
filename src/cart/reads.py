"""The cart as the API shows it, read in one query: the cart, its lines and their products, joined.

The hot path of a signed-in shopper. CartSerializer (with its prefetch) took two queries, a model
per row and a serializer per line: four times the cost of the query itself. This reads plain
values and formats them with CartSerializer's own fields, so the shape and every value's format
stay the serializer's (a test compares the two on every kind of cart); the serializer remains
the schema.
"""

from __future__ import annotations

import functools
from decimal import Decimal

from .models import Cart
from .serializers import CartItemSerializer, CartProductSerializer, CartSerializer

LINE = (
    "items__id",
    "items__quantity",
    "items__product_id",
    "items__product__name",
    "items__product__price",
    "items__product__unit",
    "items__product__stock",
)


@functools.cache
def _formats() -> dict:
    cart, line, product = CartSerializer().fields, CartItemSerializer().fields, CartProductSerializer().fields
    return {
        "updated_at": cart["updated_at"].to_representation,
        "total": cart["total"].to_representation,
        "line_total": line["line_total"].to_representation,
        "price": product["price"].to_representation,
    }


def shown(user_id: int) -> dict | None:
    """`CartSerializer(cart).data` of the user's cart; None when they have no cart yet."""
    rows = list(
        Cart.objects.filter(user_id=user_id)
        .order_by("items__added_at", "items__id")
        .values_list("id", "updated_at", *LINE)
    )
    if not rows:
        return None
    formats = _formats()
    items, total = [], Decimal("0.00")
    for _, _, item_id, quantity, product_id, name, price, unit, stock in rows:
        if item_id is None:  # the cart's one row when it has no lines (a left join)
            continue
        line_total = price * quantity
        total += line_total
        product = {"id": product_id, "name": name, "price": formats["price"](price), "unit": unit, "stock": stock}
        items.append(
            {"id": item_id, "product": product, "quantity": quantity, "line_total": formats["line_total"](line_total)}
        )
    cart_id, updated_at = rows[0][:2]
    return {
        "id": cart_id,
        "items": items,
        "total": formats["total"](total),
        "updated_at": formats["updated_at"](updated_at),
    }
