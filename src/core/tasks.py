"""Celery task options the apps share."""

import smtplib

from django.db import InterfaceError, OperationalError

# Failures worth another try: the mail server, the network or the database hiccuped.
TRANSIENT = (smtplib.SMTPException, ConnectionError, TimeoutError, OperationalError, InterfaceError)

# No result stored: nothing reads it, and one that may be read costs the web
# process a subscription to the result's channel for every task it queues.
RETRYING = {
    "ignore_result": True,
    "autoretry_for": TRANSIENT,
    "retry_backoff": True,
    "retry_backoff_max": 600,
    "max_retries": 8,
}
