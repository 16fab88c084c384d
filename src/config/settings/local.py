"""Development settings: DEBUG on, console email, embedded defaults.

With no DATABASE_URL this runs on SQLite, with no REDIS_URL on the local-memory
cache with Celery tasks run eagerly: the native stack needs nothing installed.
"""

from .base import *  # noqa: F403
from .base import DATABASES, REPO_DIR, env

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default database file lives in var/, which git ignores.
    (REPO_DIR / "var").mkdir(exist_ok=True)

DEBUG = env.bool("DJANGO_DEBUG", default=True)
# A development-only key; production refuses to start without a real one.
SECRET_KEY = env("SECRET_KEY", default="django-insecure-local-development-only")
# 0.0.0.0 is a Host header here, not a bind address.
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "0.0.0.0", "[::1]"])  # noqa: S104
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=["http://localhost:3000", "http://127.0.0.1:3000"])
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    # The browsable API is a development aid only.
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}
