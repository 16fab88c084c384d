"""The user behind an access token, kept in the `revocations` cache beside the ended sessions.

Read with the session's state in one round trip (get_many), so an authenticated request costs one
cache read and no database query once its user is cached. The copy holds the user's columns but the
password (its hash stays in the database): only the digest simplejwt compares with the token's
claim, so a password change still revokes every earlier token. Rebuilt with Model.from_db, the
password is a deferred field: reading it loads it, and a save() writes only the columns loaded.

A save or delete of the user replaces the copy with a tombstone at once and again after the commit:
while it lasts (TOMBSTONE_SECONDS) nothing is cached for that user, so
a request that read the old row before the change cannot put it back. A change that bypasses the
ORM's signals (a queryset update(), SQL, a database restore) shows within USER_CACHE_SECONDS, the
copy's lifetime: short (5 s), since after a restore a new account can get the id of one the restore
took away, whose cached row would otherwise still match that account's old tokens.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from rest_framework_simplejwt.utils import get_md5_hash_password

from . import sessions

TOMBSTONE = "changed"
# Half the caches' SOCKET_TIMEOUT (settings): slower, and the store did not answer.
SLOW_READ_SECONDS = 0.25
# Longer than a read of the user can take (DATABASE_STATEMENT_TIMEOUT, 5 s, and the round trip).
TOMBSTONE_SECONDS = 10
DIGEST = "_password_digest"


@functools.cache
def _columns() -> tuple[str, ...]:
    return tuple(f.attname for f in get_user_model()._meta.concrete_fields if f.attname != "password")


@functools.cache
def _shape() -> str:
    # The columns' names are part of the key: a deploy that changes them never reads an older copy.
    return hashlib.sha256(",".join(_columns()).encode()).hexdigest()[:8]


def key(user_id: object) -> str:
    return f"user:{_shape()}:{user_id}"


@dataclass(frozen=True)
class Read:
    ended: bool  # the token's session was ended by logout
    user: object | None  # the cached user; None when not cached
    digest: str  # its password's digest, when cached
    answered: bool  # the store answered in time: worth writing the user back to


def read(payload: Mapping[str, object], user_id: object) -> Read:
    """The session's state and the cached user: one round trip."""
    session_id = payload.get(sessions.CLAIM)
    keys = [key(user_id)] + ([sessions.key(str(session_id))] if session_id else [])
    started = time.monotonic()
    found = caches["revocations"].get_many(keys)
    # The cache ignores errors: a read that took this long met a Redis that does not answer (a stalled
    # broker costs SOCKET_TIMEOUT per call), and writing to it would cost the request as much again.
    answered = time.monotonic() - started < SLOW_READ_SECONDS
    ended = bool(session_id) and sessions.key(str(session_id)) in found
    row = found.get(key(user_id))
    if not isinstance(row, dict):  # not cached, or a tombstone
        return Read(ended, None, "", answered)
    columns = _columns()
    user = get_user_model().from_db("default", columns, [row[c] for c in columns])
    return Read(ended, user, row[DIGEST], answered)


def keep(user_id: object, user) -> None:
    """Cache `user` (just read from the database), unless a change left a tombstone."""
    row = {c: getattr(user, c) for c in _columns()} | {DIGEST: get_md5_hash_password(user.password)}
    caches["revocations"].add(key(user_id), row, timeout=settings.USER_CACHE_SECONDS)


def drop(user_id: object) -> None:
    caches["revocations"].set(key(user_id), TOMBSTONE, timeout=TOMBSTONE_SECONDS)


@receiver([post_save, post_delete], sender=settings.AUTH_USER_MODEL)
def user_changed(instance, created: bool = False, update_fields=None, **kwargs) -> None:
    if created:
        return  # nothing of it was read before, so nothing stale can be cached
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return  # every login saves it; a copy a login old misses nothing that authentication checks
    user_id = instance.pk  # a delete sets the instance's pk to None before the commit
    drop(user_id)
    transaction.on_commit(lambda: drop(user_id))
