"""Checkout: turn a cart into an order without ever overselling."""

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, PositiveIntegerField, Prefetch, QuerySet, When
from django.utils import timezone

from cart.services import empty_cart, lock_cart
from catalog import cache as catalog_cache
from catalog.models import Product

from .models import Order, OrderItem
from .tasks import queue_confirmation


class EmptyCart(Exception):
    """The user's cart has no items."""


@dataclass
class LimitReached(Exception):
    """The order would pass a per-order or per-user limit (settings MAX_ORDER_UNITS, MAX_OPEN_ORDERS)."""

    detail: str


@dataclass
class OutOfStock(Exception):
    """At least one product has less stock than the cart asks for."""

    shortages: list[dict]


def place_order(user, delivery_address: str = "", lines: dict[int, int] | None = None) -> Order:
    """Create an order from `user`'s cart, or from `lines` (product id: quantity) when given, atomically.

    With `lines` the server-side cart is neither read nor emptied: a client
    that keeps its own cart orders in one request.

    Product rows are locked in id order (SELECT ... FOR UPDATE) so concurrent
    checkouts for the same products serialise instead of deadlocking, and the
    stock check and decrement see the committed stock. Prices are snapshotted
    into the order items; the cart is emptied. The confirmation is queued after
    the commit; if the broker is down then, the order still stands and the
    periodic sweep queues it later (orders.tasks.queue_unconfirmed_orders).
    """
    with transaction.atomic():
        cart = None
        if lines is None:
            # The cart first, then products: the lock order every cart writer uses.
            cart = lock_cart(user)
            wanted = {item.product_id: item.quantity for item in cart.items.all()} if cart else {}
        else:
            # No cart lock to serialise this user's orders on: lock the user's row instead, or
            # parallel orders all count the same open orders and pass MAX_OPEN_ORDERS together.
            type(user).objects.select_for_update().filter(pk=user.pk).exists()
            wanted = dict(lines)
        if not wanted:
            raise EmptyCart
        check_limits(user, sum(wanted.values()))
        products = {p.pk: p for p in Product.objects.select_for_update().filter(pk__in=wanted).order_by("pk")}
        shortages = [
            {
                "product_id": pid,
                "name": products[pid].name if pid in products else None,
                "requested": qty,
                "available": products[pid].stock if pid in products else 0,
            }
            for pid, qty in wanted.items()
            if pid not in products or not products[pid].is_active or products[pid].stock < qty
        ]
        if shortages:
            raise OutOfStock(shortages)

        total = sum((products[pid].price * qty for pid, qty in wanted.items()), Decimal("0.00"))
        order = Order.objects.create(user=user, delivery_address=delivery_address, total=total)
        items = OrderItem.objects.bulk_create(
            OrderItem(
                order=order,
                product=products[pid],
                product_name=products[pid].name,
                unit_price=products[pid].price,
                quantity=qty,
            )
            for pid, qty in wanted.items()
        )
        # Every line's stock in one statement (the rows are locked above).
        decrements = [When(pk=pid, then=F("stock") - qty) for pid, qty in wanted.items()]
        Product.objects.filter(pk__in=wanted).update(
            stock=Case(*decrements, default=F("stock"), output_field=PositiveIntegerField()), updated_at=timezone.now()
        )
        # update() sends no post_save, so invalidate the cached lists here, once.
        transaction.on_commit(catalog_cache.invalidate)
        if cart is not None:
            empty_cart(cart)
        transaction.on_commit(lambda: queue_confirmation(order.pk))
    # The response reads the items just written, not the database again.
    order.item_list = items
    return order


def with_items(orders: QuerySet[Order]) -> QuerySet[Order]:
    """`orders`, each with its `item_list` (what OrderSerializer reads) in one query for them all."""
    return orders.prefetch_related(Prefetch("items", to_attr="item_list"))


def check_limits(user, units: int) -> None:
    if units > settings.MAX_ORDER_UNITS:
        raise LimitReached(f"An order holds at most {settings.MAX_ORDER_UNITS} units; this cart has {units}.")
    open_orders = Order.objects.filter(user=user).exclude(status__in=Order.CLOSED).count()
    if open_orders >= settings.MAX_OPEN_ORDERS:
        raise LimitReached(
            f"You have {open_orders} orders not yet delivered (the limit is {settings.MAX_OPEN_ORDERS}); "
            "order again once one arrives, or ask support."
        )
