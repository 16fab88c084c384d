"""Product-list caching with O(1) invalidation.

Every cached list key embeds a catalogue version number; any product or
category change bumps the version, so all cached lists go stale at once
without scanning keys (which Redis would make expensive).
"""

import hashlib

from django.conf import settings
from django.core.cache import cache

VERSION_KEY = "catalog:version"


def current_version() -> int:
    version = cache.get(VERSION_KEY)
    if version is None:
        cache.add(VERSION_KEY, 1, timeout=None)
        version = cache.get(VERSION_KEY) or 1
    return int(version)


def list_key(query_string: str) -> str:
    # Hashed: query strings are client input of any length and content.
    digest = hashlib.sha256(query_string.encode()).hexdigest()
    return f"catalog:products:v{current_version()}:{digest}"


def invalidate() -> None:
    try:
        cache.incr(VERSION_KEY)
    except ValueError:  # key missing (evicted or never set): any new value invalidates
        cache.set(VERSION_KEY, current_version() + 1, timeout=None)


def timeout() -> int:
    return settings.CATALOG_CACHE_SECONDS
