import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from .models import Cart

logger = logging.getLogger(__name__)


@shared_task
def purge_stale_carts() -> int:
    """Delete carts untouched for CART_STALE_AFTER_DAYS; returns how many."""
    cutoff = timezone.now() - timedelta(days=settings.CART_STALE_AFTER_DAYS)
    stale = Cart.objects.filter(updated_at__lt=cutoff)
    count = stale.count()
    stale.delete()
    logger.info("purge_stale_carts: deleted %d cart(s) untouched since %s", count, cutoff.isoformat())
    return count
