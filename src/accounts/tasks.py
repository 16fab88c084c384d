"""Mail about an account: the notice its owner gets when someone registers the address again."""

import logging

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail

from core.tasks import RETRYING

from .models import User

logger = logging.getLogger(__name__)

# One notice per account per this many seconds: registering someone's address
# over and over must not flood their mailbox.
NOTICE_EVERY_SECONDS = 60 * 60

ACCOUNT_EXISTS_MESSAGE = """\
Someone, perhaps you, tried to create a DesiDeliver account with this address.

You already have one: log in with this address and your password. No new
account was made and nothing about yours has changed.

If you cannot log in, answer this mail and we will help. If it was not you,
you can ignore this mail.
"""


@shared_task(**RETRYING)
def send_account_exists_notice(user_id: int) -> str:
    """Mail the owner of an address someone tried to register that they already have an account."""
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return "no such user"
    send_mail(
        subject="You already have a DesiDeliver account",
        message=ACCOUNT_EXISTS_MESSAGE,
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[user.email],
    )
    return "sent"


def queue_account_exists_notice(user: User) -> None:
    """Queue the notice for `user`, at most once per NOTICE_EVERY_SECONDS.

    Never an error for the caller: the register answer must not differ from a
    new account's, whatever the broker does.
    """
    if cache.add(f"accounts:exists-notice:{user.pk}", 1, NOTICE_EVERY_SECONDS) is False:
        return  # sent lately (None: the cache is down, so send)
    try:
        send_account_exists_notice.apply_async((user.pk,), retry=False)
    except Exception:  # any broker, connection or (eager) mail failure: the answer stands
        logger.warning("user %s: account-exists notice not queued (broker unavailable)", user.pk, exc_info=True)
