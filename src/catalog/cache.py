"""Catalogue caching: rendered responses, with O(1) invalidation.

Every cached key embeds a catalogue version number; any product or category
change bumps the version, so all cached responses go stale at once without
scanning keys (which Redis would make expensive). What is cached is the
rendered JSON body, so a hit costs one cache read and no serialisation.

Each process remembers the version it last read for CATALOG_VERSION_SECONDS
(half a second by default): a hit is then one round trip to Redis instead of
two, and a change made by another process shows within that time. A change
made by this process shows at once. (The proxy adds at most a second of its
own for anonymous reads: docker/nginx/desideliver.conf.)
"""

import hashlib
import time

from django.conf import settings
from django.core.cache import cache

VERSION_KEY = "catalog:version"
_seen = {"version": 0, "at": float("-inf")}


def current_version() -> int:
    now = time.monotonic()
    if now - _seen["at"] < settings.CATALOG_VERSION_SECONDS:
        return _seen["version"]
    version = cache.get(VERSION_KEY)
    if version is None:
        cache.add(VERSION_KEY, 1, timeout=None)
        version = cache.get(VERSION_KEY) or 1
    _seen.update(version=int(version), at=now)
    return int(version)


def response_key(kind: str, origin: str, query_string: str) -> str:
    """The key of one cached response: its kind (list, detail:ID), scheme and host, and query.

    Scheme and host are part of it because the body holds absolute links
    (pagination). Hashed: query strings are client input of any length.
    """
    digest = hashlib.sha256(f"{origin}?{query_string}".encode()).hexdigest()
    return f"catalog:{kind}:v{current_version()}:{digest}"


def invalidate() -> None:
    try:
        version = cache.incr(VERSION_KEY)
    except ValueError:  # key missing (evicted or never set): any new value invalidates
        version = current_version() + 1
        cache.set(VERSION_KEY, version, timeout=None)
    _seen.update(version=int(version), at=time.monotonic())


def timeout() -> int:
    return settings.CATALOG_CACHE_SECONDS
