"""Settings shared by every environment.

Every value that differs between environments comes from the environment
(12-factor), read through django-environ. A `.env` file at the repository root
is loaded when present; real environment variables always win over it. The
`*_FILE` form of any variable (e.g. `SECRET_KEY_FILE=/run/secrets/secret_key`)
is honoured, so compose secrets work without code changes.
"""

import os
from datetime import timedelta
from pathlib import Path

import environ

from core import redis_url

SRC_DIR = Path(__file__).resolve().parents[2]
REPO_DIR = SRC_DIR.parent


class SecretFiles(environ.FileAwareMapping):
    """NAME_FILE=/run/secrets/name: the file's contents without the newline an editor leaves at the end."""

    def __getitem__(self, key: str) -> str:
        value = super().__getitem__(key)
        return value.rstrip("\r\n") if self.env.get(f"{key}_FILE") else value


class Env(environ.FileAwareEnv):
    # A copy: values from .env must not leak into os.environ, where every
    # subprocess (compose, tests, management commands) would inherit them.
    ENVIRON = SecretFiles(env=dict(os.environ))


env = Env()
# The same file ./inv hands to compose.
ENV_FILE = Path(os.environ.get("DESIDELIVER_ENV_FILE", REPO_DIR / ".env"))
if env.bool("DJANGO_READ_DOT_ENV", default=True) and ENV_FILE.is_file():
    Env.read_env(ENV_FILE, overwrite=False)

# --- Django -------------------------------------------------------------------
DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # First: its runserver (core/management/commands/runserver.py) wraps WhiteNoise's.
    "core",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    "catalog",
    "cart",
    "orders",
    "support",
]

MIDDLEWARE = [
    # First: every log line of the request, errors included, carries its id (core/request_id.py).
    "core.request_id.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # WhiteNoise must come straight after SecurityMiddleware.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    # Outside CommonMiddleware: its slash redirects pass, its 404s become JSON.
    "core.middleware.JsonApiErrorsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.middleware.AdminContentSecurityPolicyMiddleware",
]

# Prometheus metrics of requests and queries (core/metrics.py): on by default, where they cost
# nothing that matters; prod turns them on with its monitoring (MONITORING, compose/prod), so
# a stack nobody scrapes does not pay for them on every request.
METRICS = env.bool("METRICS", default=True)
if METRICS:
    INSTALLED_APPS.append("django_prometheus")
    MIDDLEWARE = [
        # GET /metrics from inside the stack, then the request metrics' clock starts.
        MIDDLEWARE[0],  # the request id, first of all
        "core.metrics.MetricsEndpointMiddleware",
        "django_prometheus.middleware.PrometheusBeforeMiddleware",
        *MIDDLEWARE[1:],
        # Last: it sees the view that answered, and the status.
        "django_prometheus.middleware.PrometheusAfterMiddleware",
    ]

# Request bodies: JSON only, at most 1 MB (nginx's client_max_body_size agrees).
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(REPO_DIR / "var" / "static")))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(REPO_DIR / "var" / "media")))

# --- Database -----------------------------------------------------------------
# Unset DATABASE_URL means the embedded default: SQLite in a file under var/.
# Production refuses to start without it (see production.py).
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{REPO_DIR / 'var' / 'db.sqlite3'}")}
# A password given on its own (e.g. DATABASE_PASSWORD_FILE=/run/secrets/...)
# keeps the secret out of DATABASE_URL and so out of `docker compose config`.
if database_password := env("DATABASE_PASSWORD", default=""):
    DATABASES["default"]["PASSWORD"] = database_password
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Persistent connections with a health check before reuse: measured on this
    # kind of machine at no cost, and simpler than a per-worker pool under
    # forking servers (gunicorn, Celery prefork).
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # The server cancels any statement running longer than this (0: never), so one runaway query
    # cannot hold a connection and a web thread for minutes; the API answers 503 (core/exceptions.py).
    # Web and worker alike; migrate_atomic and the bulk loaders lift it for their own transaction.
    # JIT off: a query being JIT-compiled ignored the timeout (171 s past a 5 s limit, measured), and the
    # app's short queries never gain from it.
    statement_timeout = env.float("DATABASE_STATEMENT_TIMEOUT", default=5)
    # Added to what DATABASE_URL's query gives (?sslmode=require and the like), not in its place.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "options": f"-c statement_timeout={round(statement_timeout * 1000)} -c jit=off",
            "connect_timeout": 2,  # libpq's least; a stalled server must not hold a request (core/postgres)
        }
    )
    # Every wait on the server bounded too, for a server that stopped answering altogether.
    DATABASES["default"]["ENGINE"] = "core.postgres"
    DATABASES["default"]["STATEMENT_TIMEOUT"] = statement_timeout

# Seconds migrate_atomic waits for a lock before it gives up, applying nothing (0: forever): while a
# migration waits behind a long transaction, every query on the table it wants queues behind it.
MIGRATION_LOCK_TIMEOUT = env.float("MIGRATION_LOCK_TIMEOUT", default=10)


# --- Redis: cache and Celery --------------------------------------------------
def with_redis_password(url: str) -> str:
    password = env("REDIS_PASSWORD", default="")
    return redis_url.with_password(url, password) if url and password else url


# The broker; the cache may have an instance of its own (prod: REDIS_CACHE_URL)
# whose evictions never touch queued tasks.
REDIS_URL = with_redis_password(env("REDIS_URL", default=""))
REDIS_CACHE_URL = with_redis_password(env("REDIS_CACHE_URL", default="")) or REDIS_URL
if REDIS_CACHE_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_CACHE_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="desideliver"),
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                # A cache outage must degrade to database reads, never to 500s,
                # and a stalled Redis must cost a request half a second, not all of it.
                "IGNORE_EXCEPTIONS": True,
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 0.5,
            },
        }
    }
    # Ended log-in sessions (accounts/sessions.py) live in the broker's Redis, which never evicts:
    # the catalogue cache's LRU could drop one and bring a logged-out token back.
    CACHES["revocations"] = {
        **CACHES["default"],
        "LOCATION": REDIS_URL or REDIS_CACHE_URL,
        "KEY_PREFIX": f"{CACHES['default']['KEY_PREFIX']}:auth",
    }
else:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "revocations": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "revocations"},
    }
# Search input bounds (catalog/filters.py): a product's whole name fits (up to 14 words here).
SEARCH_MAX_TERMS = env.int("SEARCH_MAX_TERMS", default=16)
SEARCH_MAX_LENGTH = env.int("SEARCH_MAX_LENGTH", default=100)
CATALOG_CACHE_SECONDS = env.int("CATALOG_CACHE_SECONDS", default=300)
# How long an authenticated request's user is read from the cache (accounts/user_cache.py); a save drops it at once.
USER_CACHE_SECONDS = env.int("USER_CACHE_SECONDS", default=5)
# Lists PostgreSQL expects to hold this many rows or more report its estimate, not a count (core/pagination.py).
ESTIMATED_COUNT_FROM = env.int("ESTIMATED_COUNT_FROM", default=10_000)
# How long a process trusts the catalogue version it last read (src/catalog/cache.py).
CATALOG_VERSION_SECONDS = env.float("CATALOG_VERSION_SECONDS", default=0.5)

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
# Without Redis there is no broker to talk to: run tasks in-process instead.
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
# A message is acknowledged after its task ran, and given back when the worker
# process dies under it: a killed worker loses nothing (tasks are idempotent).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes every database connection after each task unless
# this is set, and a new PostgreSQL backend per task cost more database CPU
# than the task itself. With it set, a worker process closes its connections
# every this many tasks; in between, config.celery closes them as Django does
# after a request: when broken or older than CONN_MAX_AGE.
CELERY_DB_REUSE_MAX = 1000
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Worker and beat log through LOGGING as Django does (JSON lines in production, with request ids).
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Task events for Flower, Celery's Prometheus exporter (the prod stack's `flower` service),
# from the start only while metrics are on (Flower also turns them on in running workers).
# Only the worker's: a "task-sent" event would be one more Redis publish inside the request
# that queues the task (checkout), and Flower counts tasks from the worker's events.
CELERY_WORKER_SEND_TASK_EVENTS = METRICS
# Short timeouts: a stalled Redis costs a request two seconds, not twenty. An
# unacknowledged message (its worker killed outright) is redelivered after the
# visibility timeout, longer than any task here runs.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_timeout": 2, "socket_connect_timeout": 2, "visibility_timeout": 600}
CELERY_REDIS_SOCKET_TIMEOUT = 2
CELERY_RESULT_EXPIRES = timedelta(days=1)
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {
    "purge-stale-carts": {
        "task": "cart.tasks.purge_stale_carts",
        "schedule": env.float("CART_PURGE_INTERVAL_SECONDS", default=24 * 60 * 60),
    },
    # Confirmations that never reached the queue or were lost with it.
    "queue-unconfirmed-orders": {"task": "orders.tasks.queue_unconfirmed_orders", "schedule": 60.0},
    # Exports past ORDER_EXPORT_KEEP_DAYS: hourly keeps that within an hour, and costs one directory listing.
    "purge-old-exports": {"task": "orders.tasks.purge_old_exports", "schedule": 60 * 60.0},
}
CART_STALE_AFTER_DAYS = env.int("CART_STALE_AFTER_DAYS", default=30)
# Limits that keep one account from reserving the catalogue (payment is out of
# scope, so an order reserves stock the moment it is placed): units of one
# product per cart, units per order, and orders not yet delivered per user.
MAX_LINE_QUANTITY = env.int("MAX_LINE_QUANTITY", default=20)
MAX_ORDER_UNITS = env.int("MAX_ORDER_UNITS", default=100)
MAX_OPEN_ORDERS = env.int("MAX_OPEN_ORDERS", default=5)
# Seconds one round of readiness checks answers every probe of this process (src/core/health.py).
READY_CACHE_SECONDS = env.float("READY_CACHE_SECONDS", default=1)
# Messages a ticket shows in the ticket list and detail, the newest; all of them are at tickets/{id}/messages/.
TICKET_DETAIL_MESSAGES = env.int("TICKET_DETAIL_MESSAGES", default=50)
# Where liveness files live; the worker and beat health checks read them.
CELERY_HEARTBEAT_DIR = Path(env("CELERY_HEARTBEAT_DIR", default="/tmp"))  # noqa: S108 - a tmpfs in containers
# The default scheduler, plus a heartbeat file for the container health check.
CELERY_BEAT_SCHEDULER = "config.celery.HeartbeatScheduler"
CELERY_BEAT_SCHEDULE_FILENAME = str(CELERY_HEARTBEAT_DIR / "celerybeat-schedule")

# --- Email --------------------------------------------------------------------
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="DesiDeliver <orders@desideliver.local>")
ORDER_EXPORT_DIR = Path(env("ORDER_EXPORT_DIR", default=str(MEDIA_ROOT / "exports")))
# Queued exports are deleted this long after they were written (beat checks hourly).
ORDER_EXPORT_KEEP_DAYS = env.int("ORDER_EXPORT_KEEP_DAYS", default=7)

# --- CORS ---------------------------------------------------------------------
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])

# --- REST framework, JWT, OpenAPI ---------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.JWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.PageNumberPagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_RATES": {
        "auth": env("AUTH_THROTTLE_RATE", default="20/minute"),
        # Tickets and messages a customer may post, together, per account (staff are not throttled).
        "support": env("SUPPORT_THROTTLE_RATE", default="30/hour"),
    },
    # Proxies in front of Django that each append the address they saw to
    # X-Forwarded-For: throttles key on the address the nearest one saw, never
    # on what a client wrote there. 0: no proxy, the peer's address.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
    "EXCEPTION_HANDLER": "core.exceptions.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "UPDATE_LAST_LOGIN": True,
    # A refresh token works once: refreshing returns a new one and blacklists
    # the old, so a stolen token is noticed (logout blacklists it too).
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    # Tokens carry a hash of the password: a password change revokes them all.
    "CHECK_REVOKE_TOKEN": True,
}
# Who may read /api/v1/schema/ and /api/v1/docs/: public, staff or off.
API_DOCS = env("API_DOCS", default="staff")
if API_DOCS not in ("public", "staff", "off"):
    raise SystemExit(f"API_DOCS={API_DOCS!r}: use public, staff or off.")
SPECTACULAR_SETTINGS = {
    "TITLE": "DesiDeliver API",
    "DESCRIPTION": "Grocery delivery: catalogue, cart, orders and support tickets.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # UI assets come from drf-spectacular-sidecar: the docs work offline and
    # under a strict Content-Security-Policy.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Logging ------------------------------------------------------------------
DJANGO_LOG_LEVEL = env("DJANGO_LOG_LEVEL", default="INFO")
LOG_FORMAT = env("LOG_FORMAT", default="text")  # "json" in production
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "core.logging.JsonFormatter"},
    },
    "filters": {"request_id": {"()": "core.request_id.RequestIdFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": DJANGO_LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
    },
}
