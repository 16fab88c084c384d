"""Production settings: DEBUG off, PostgreSQL, Redis, WhiteNoise, HTTPS.

Refuses to import when a required variable is missing, naming every one of
them, so a misconfigured container exits before it serves anything.
"""

import sys

from .base import *  # noqa: F403
from .base import DATABASES, env

REQUIRED = ("SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL", "EMAIL_URL")


def missing_variables(names: tuple[str, ...] = REQUIRED) -> list[str]:
    """Names in `names` set neither directly nor through their `_FILE` form."""
    return [n for n in names if not (env.str(n, default="") or env.str(f"{n}_FILE", default=""))]


if missing := missing_variables():
    sys.stderr.write(
        "DesiDeliver production settings: missing required environment variable(s): "
        f"{', '.join(missing)}. Set them in the environment or in .env "
        "(every variable is documented in .env.example).\n"
    )
    # EX_CONFIG: a configuration error, not a crash worth a traceback.
    raise SystemExit(78)

if DATABASES["default"]["ENGINE"] != "core.postgres":  # base.py's for every postgres:// URL
    sys.stderr.write("DesiDeliver production settings: DATABASE_URL must be a postgres:// URL.\n")
    raise SystemExit(78)

DEBUG = False
LOG_FORMAT = env("LOG_FORMAT", default="json")
LOGGING["handlers"]["console"]["formatter"] = LOG_FORMAT  # noqa: F405

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Hashed names are all the manifest serves; the unhashed copies only cost space.
WHITENOISE_KEEP_ONLY_HASHED_FILES = True

# --- HTTPS and cookies --------------------------------------------------------
# The app runs behind a TLS-terminating proxy that sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
# Health probes come from inside the container over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^api/v1/health/"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
