"""A Redis URL with its password: the one way the settings and Flower (no Django) build it."""

from urllib.parse import quote, urlsplit, urlunsplit


def with_password(url: str, password: str) -> str:
    """`url` with `password` in it, quoted (a generated password may hold any character)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f":{quote(password, safe='')}@{parts.hostname}:{parts.port or 6379}"))
