"""Test settings: PostgreSQL when DATABASE_URL is set, SQLite otherwise.

Redis is used for the cache when REDIS_URL is set (so the cache tests run
against the real server), but Celery always runs eagerly so a test sees a
task's effect without a worker.
"""

from .base import *  # noqa: F403
from .base import REST_FRAMEWORK, env

DEBUG = False
SECRET_KEY = "test-only-secret-key-not-used-anywhere-else-0123456789"  # noqa: S105
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = True
CELERY_BROKER_URL = "memory://"
CELERY_RESULT_BACKEND = "cache+memory://"
# Every probe runs its checks (tests/api/test_health.py covers the per-process answer).
READY_CACHE_SECONDS = 0
# Every request reads the catalogue version (tests/api/test_catalog.py covers the per-process memo).
CATALOG_VERSION_SECONDS = 0
CACHES["default"]["KEY_PREFIX"] = env("CACHE_KEY_PREFIX", default="desideliver-test")  # noqa: F405
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    # High enough for the whole suite; the throttle tests lower them themselves.
    "DEFAULT_THROTTLE_RATES": {"auth": "10000/minute", "support": "10000/minute"},
}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# The schema fuzz test reads the schema anonymously; tests of the setting override it.
API_DOCS = "public"
