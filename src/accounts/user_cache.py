"""The user behind an access token, kept in the `revocations` cache beside the ended sessions.

Read with the session's state in one round trip (get_many), so an authenticated request costs one
cache read and no database query once its user is cached. The cached copy is the user's database
row as a dict of column values, rebuilt as if just loaded (Model.from_db).

A save or delete of the user drops it at once and again after the commit (a request between the
two could have cached the old row). A change that bypasses the ORM's signals (a queryset update(),
SQL, a database restore) shows within USER_CACHE_SECONDS, the copy's lifetime: short (5 s), since
after a restore a new account can get the id of one the restore took away, whose cached row would
otherwise still match that account's old tokens.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from . import sessions


def key(user_id: object) -> str:
    return f"user:{user_id}"


def read(payload: Mapping[str, object], user_id: object) -> tuple[bool, object | None]:
    """Whether the token's session was ended, and the cached user (None when not cached): one round trip."""
    session_id = payload.get(sessions.CLAIM)
    keys = [key(user_id)] + ([sessions.key(str(session_id))] if session_id else [])
    found = caches["revocations"].get_many(keys)
    ended = bool(session_id) and sessions.key(str(session_id)) in found
    row = found.get(key(user_id))
    if row is None:
        return ended, None
    model = get_user_model()
    return ended, model.from_db("default", list(row), list(row.values()))


def keep(user_id: object, user) -> None:
    row = {field.attname: getattr(user, field.attname) for field in user._meta.concrete_fields}
    caches["revocations"].set(key(user_id), row, timeout=settings.USER_CACHE_SECONDS)


def drop(user_id: object) -> None:
    caches["revocations"].delete(key(user_id))


@receiver([post_save, post_delete], sender=settings.AUTH_USER_MODEL)
def user_changed(instance, **kwargs) -> None:
    drop(instance.pk)
    transaction.on_commit(lambda: drop(instance.pk))
