from celery import shared_task

from . import services


@shared_task
def purge_stale_carts() -> int:
    """Delete carts untouched for CART_STALE_AFTER_DAYS; returns how many."""
    return services.purge_stale_carts()
