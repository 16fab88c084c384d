from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from . import cache
from .models import Category, Product


@receiver([post_save, post_delete], sender=Product)
@receiver([post_save, post_delete], sender=Category)
def invalidate_product_lists(**kwargs) -> None:
    # After commit, so a reader can never re-cache the pre-change rows between
    # the invalidation and the commit. (Checkout's bulk stock update, which
    # sends no signal, invalidates itself in orders.services.)
    transaction.on_commit(cache.invalidate)
