"""The cart's writes and the rules its lines keep, for the views, checkout (orders) and the purge (cart.tasks).

A broken rule is a django ValidationError: a serializer takes a plain one as a
field's error, and the API answers one naming a field with 400 on that field
(core.exceptions).
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone

from catalog.models import Product

from .models import Cart, CartItem

logger = logging.getLogger(__name__)


def check_line_quantity(quantity: int) -> None:
    """One product's quantity in a cart or an order: at most MAX_LINE_QUANTITY (no one reserves the whole stock)."""
    if quantity > settings.MAX_LINE_QUANTITY:
        raise ValidationError(
            f"At most {settings.MAX_LINE_QUANTITY} of one product per order; you asked for {quantity}."
        )


def check_line(product: Product, quantity: int) -> None:
    """The quantity a cart line is to hold: within MAX_LINE_QUANTITY and `product`'s stock.

    The error names `quantity`, the field a client sent.
    """
    try:
        check_line_quantity(quantity)
        if quantity > product.stock:
            raise ValidationError(f"Only {product.stock} of '{product.name}' in stock; you asked for {quantity}.")
    except ValidationError as error:
        raise ValidationError({"quantity": error.messages}) from None


def cart_for(user) -> Cart:
    """`user`'s cart, made empty if they have none."""
    cart, _ = Cart.objects.get_or_create(user=user)
    return cart


def lock_cart(user) -> Cart | None:
    """`user`'s cart, row-locked until the transaction ends; None if they have none.

    Every writer (add, update, remove, checkout) locks the cart first and its
    items after: one lock order, so two of them never deadlock, and two adds of
    the same new product serialise instead of racing to insert it twice.
    """
    return Cart.objects.select_for_update().filter(user=user).first()


@contextmanager
def changing_cart(user) -> Iterator[Cart]:
    """A write to `user`'s cart, in one transaction with the cart locked; its updated_at moves once it is done.

    One query when the cart exists; a first cart is made by get_or_create,
    which copes with a twin request making it at the same time.
    """
    with transaction.atomic():
        cart = lock_cart(user) or Cart.objects.select_for_update().get(pk=cart_for(user).pk)
        yield cart
        cart.save(update_fields=["updated_at"])


def cart_line(cart: Cart, item_id: int) -> CartItem:
    # Another user's item is not in this cart: a 404, indistinguishable from a missing one.
    return get_object_or_404(CartItem.objects.select_related("product"), pk=item_id, cart=cart)


def add_item(user, product: Product, quantity: int) -> Cart:
    """Put `quantity` more of `product` in `user`'s cart, on its line if it has one; the cart."""
    with changing_cart(user) as cart:
        item = CartItem.objects.filter(cart=cart, product=product).first()
        total = quantity + (item.quantity if item else 0)
        check_line(product, total)
        if item:
            item.quantity = total
            item.save(update_fields=["quantity"])
        else:
            CartItem.objects.create(cart=cart, product=product, quantity=quantity)
    return cart


def set_quantity(user, item_id: int, quantity: int) -> Cart:
    """Make the line `item_id` of `user`'s cart hold `quantity`; the cart."""
    with changing_cart(user) as cart:
        item = cart_line(cart, item_id)
        check_line(item.product, quantity)
        item.quantity = quantity
        item.save(update_fields=["quantity"])
    return cart


def remove_item(user, item_id: int) -> Cart:
    """Take the line `item_id` out of `user`'s cart; the cart."""
    with changing_cart(user) as cart:
        cart_line(cart, item_id).delete()
    return cart


def empty_cart(cart: Cart) -> None:
    """Take every line out of `cart`, which the caller has locked (lock_cart): an order took them."""
    cart.items.all().delete()


def purge_stale_carts() -> int:
    """Delete carts untouched for CART_STALE_AFTER_DAYS; how many."""
    cutoff = timezone.now() - timedelta(days=settings.CART_STALE_AFTER_DAYS)
    stale = Cart.objects.filter(updated_at__lt=cutoff)
    count = stale.count()
    stale.delete()
    logger.info("purge_stale_carts: deleted %d cart(s) untouched since %s", count, cutoff.isoformat())
    return count
