"""Log-in sessions that logout ends at once, access tokens included.

A JWT access token is valid until it expires (JWT_ACCESS_MINUTES); nothing on the
server remembers it. Each login therefore names its session in a claim (`sid`)
that the refresh token carries through every rotation and copies into each
access token it mints. Logout records the session as ended, for as long as an
access token of it can live, in the `revocations` cache: the broker's Redis in
production, which never evicts, so an ended session cannot come back when the
catalogue cache fills up. Checking it shares one cache read per authenticated request
with the user's (accounts/user_cache.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from django.core.cache import caches
from rest_framework_simplejwt.settings import api_settings

CLAIM = "sid"


def new_session_id() -> str:
    return uuid.uuid4().hex


def key(session_id: str) -> str:
    return f"ended-session:{session_id}"


class NotRecorded(Exception):
    """The ended session could not be written (the store is down or full): the logout did not happen."""


def end(payload: Mapping[str, object]) -> None:
    """End the session a token belongs to: its access tokens are refused from now on.

    Raises NotRecorded when the store did not take it: the cache ignores errors, and a
    logout that silently left the tokens working would be worse than one that says so.
    """
    if session_id := payload.get(CLAIM):
        lifetime = api_settings.ACCESS_TOKEN_LIFETIME.total_seconds()
        caches["revocations"].set(key(str(session_id)), 1, timeout=int(lifetime) + 1)
        if caches["revocations"].get(key(str(session_id))) is None:  # read back: one more round trip, at logout only
            raise NotRecorded(session_id)
