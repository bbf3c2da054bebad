"""Settings for the exnaton project.

Every setting that differs between machines is read from the environment here, and only here
(see `.env.example` for the full list). Development and production differ by environment alone.
"""

import zoneinfo
from pathlib import Path

import csp.constants
import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()


def _positive_int(name: str, default: int) -> int:
    value = env.int(name, default=default)
    if value < 1:
        raise ImproperlyConfigured(f"{name} must be a positive integer, got {value}.")
    return value


def _memory_size(name: str, default: str) -> str:
    """A PostgreSQL memory setting such as 32MB; empty leaves the server's own."""
    size = env.str(name, default=default).strip()
    if size and (not size[:-2].isdigit() or size[-2:] not in ("kB", "MB", "GB")):
        raise ImproperlyConfigured(f"{name} must be a size such as {default}, got {size!r}.")
    return size


# A local `.env` is read when present; real environment variables win over it.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off "
            "(set DJANGO_DEBUG=1 for local development)."
        )
    SECRET_KEY = "django-insecure-local-development-only"  # noqa: S105 - only ever used with DEBUG on

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    # django.contrib.admin on a site with a throttled login (exnaton/login.py).
    "exnaton.apps.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_admin_lightweight_date_hierarchy",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "corsheaders",
    "meters",
    "analysis",
]

MIDDLEWARE = [
    # CORS first: it answers a browser's preflight for the API before anything else does.
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Early, so that it compresses the response as every later middleware left it.
    "exnaton.middleware.CompressedApiData",
    # Static files straight from gunicorn, before anything else looks at the request.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Content-Security-Policy on every response (CONTENT_SECURITY_POLICY below).
    "csp.middleware.CSPMiddleware",
    # Cache-Control: private on what a logged-in user is answered (exnaton/middleware.py).
    "exnaton.middleware.private_to_the_user",
]

ROOT_URLCONF = "exnaton.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

WSGI_APPLICATION = "exnaton.wsgi.application"

# SQLite is the embedded default; production sets DATABASE_URL to PostgreSQL.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# A streaming replica of that PostgreSQL, which the API and the report pages read from
# (exnaton/replica.py); unset: everything reads and writes DATABASE_URL.
DATABASE_REPLICA_URL = env.str("DATABASE_REPLICA_URL", default="").strip()
DATABASE_ROUTERS = []
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = env.db_url_config(DATABASE_REPLICA_URL)
    if not all(db["ENGINE"].endswith("postgresql") for db in DATABASES.values()):
        raise ImproperlyConfigured(
            "DATABASE_REPLICA_URL needs DATABASE_URL and itself to be PostgreSQL (postgres://...)."
        )
    # Tests run against the primary's test database through both aliases.
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    DATABASE_ROUTERS.append("exnaton.replica.ReplicaRouter")
    MIDDLEWARE.append("exnaton.replica.reads_from_replica")
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # PostgreSQL's memory per sort or hash of one query. Its default (4MB) makes a year of one
    # channel's daily sums sort on disk.
    DATABASE_WORK_MEM = _memory_size("DATABASE_WORK_MEM", "32MB")
    # Memory for a session's temporary tables, where the ingest stages a flush's rows (the
    # default, 8MB, sends them through files). Only sessions that use temporary tables take
    # it, and it can only be set before their first one: so here, for every session.
    DATABASE_TEMP_BUFFERS = _memory_size("DATABASE_TEMP_BUFFERS", "256MB")
    _settings = [
        f"-c {name}={size}"
        for name, size in (("temp_buffers", DATABASE_TEMP_BUFFERS), ("work_mem", DATABASE_WORK_MEM))
        if size
    ]
    if _settings:
        for _database in DATABASES.values():
            _options = _database.setdefault("OPTIONS", {})
            _options["options"] = " ".join([_options.get("options", ""), *_settings]).strip()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# Readings are stored in UTC; this zone is the default for local-calendar views.
TIME_ZONE = env.str("DJANGO_TIME_ZONE", default="Europe/Zurich")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Collected at image build time (`collectstatic`) and served by WhiteNoise.
STATIC_ROOT = Path(env.str("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed, compressed copies served with far-future cache headers. It needs `collectstatic`
    # to have run, so the test settings (pyproject.toml) choose Django's plain backend.
    "staticfiles": {
        "BACKEND": env.str(
            "DJANGO_STATICFILES_BACKEND",
            default="whitenoise.storage.CompressedManifestStaticFilesStorage",
        )
    },
}

# Logs go to stdout, where the container runtime collects them: one JSON object per line by
# default in production, plain lines on a developer's terminal. deploy/gunicorn.conf.py
# formats gunicorn's own logs the same way.
LOG_FORMAT = env.str("DJANGO_LOG_FORMAT", default="plain" if DEBUG else "json")
LOG_FORMATTERS = {
    "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    "json": {
        "()": "pythonjsonlogger.json.JsonFormatter",
        "fmt": "%(levelname)s %(name)s %(message)s",
        "rename_fields": {"levelname": "level", "name": "logger"},
        # ISO 8601 in UTC, whatever TIME_ZONE says.
        "timestamp": "time",
    },
}
if LOG_FORMAT not in LOG_FORMATTERS:
    raise ImproperlyConfigured(f"DJANGO_LOG_FORMAT must be json or plain, got {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": LOG_FORMATTERS,
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": LOG_FORMAT,
        }
    },
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {
        # A source that fails after its retries is reported by ingest_meters; urllib3's
        # warning on each retry would only repeat it.
        "urllib3": {"level": "ERROR"},
        # Django's own DEBUG-only console handler would print each django.* record a second
        # time beside the root handler: its records go through the root handler only.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
    },
}

# --- Production and security ---------------------------------------------------------------
# Defaults are the production ones; DJANGO_DEBUG=1 relaxes them for plain HTTP on a laptop.
# `python manage.py check --deploy` is clean with the environment of .env.example plus a
# secret key (tests/deploy/test_settings.py).

# Origins (scheme://host[:port]) whose forms may POST here, e.g. https://exnaton.example.com.
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# Origins (scheme://host[:port]) of frontends whose pages may call the API from a browser
# (CORS), e.g. https://app.example.com: with a token in the Authorization header, not the
# session cookie, so no credentials are allowed across origins. Empty: only this origin.
CORS_ALLOWED_ORIGINS = env.list("DJANGO_CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/"
# Headers a cross-origin caller may read besides the safelisted ones: when to retry after a 429.
CORS_EXPOSE_HEADERS = ["Retry-After"]


def _proxy_ssl_header(value: list[str]) -> tuple[str, str] | None:
    """("HTTP_X_FORWARDED_PROTO", "https") from "X-Forwarded-Proto,https"; None when unset."""
    if not value:
        return None
    if len(value) != 2 or not all(value):
        raise ImproperlyConfigured(
            "DJANGO_SECURE_PROXY_SSL_HEADER must be 'Header-Name,value', "
            f"e.g. 'X-Forwarded-Proto,https', got {','.join(value)!r}."
        )
    header = value[0].upper().replace("-", "_")
    return (header if header.startswith("HTTP_") else f"HTTP_{header}", value[1])


# TLS ends at the proxy or ingress in front; the header it sets tells Django the request came
# in over HTTPS. Set it only when that proxy overwrites the header a client may send.
SECURE_PROXY_SSL_HEADER = _proxy_ssl_header(env.list("DJANGO_SECURE_PROXY_SSL_HEADER", default=[]))
# Proxies in front that append the address they saw to X-Forwarded-For: the client's address,
# which throttles count by, is the one the outermost of them saw. 0 (no proxy): REMOTE_ADDR;
# an X-Forwarded-For a client sends itself is never believed (DRF's NUM_PROXIES).
NUM_PROXIES = env.int("DJANGO_NUM_PROXIES", default=0)
if NUM_PROXIES < 0:
    raise ImproperlyConfigured(f"DJANGO_NUM_PROXIES must be 0 or more, got {NUM_PROXIES}.")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
# Probes speak plain HTTP to the container itself (exnaton/health.py).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# An hour until TLS is known to work everywhere; then raise it to a year (31536000).
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool(
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG
)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=not DEBUG)
# Every asset is the project's own (no CDN): scripts only from its files, never inline; styles
# from its files or the <style> of a page carrying the request's nonce. The API docs pages
# loosen style-src for Redoc's generated styles (meters/api/urls.py); a chart image sets its
# own, stricter policy (analysis/views.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.constants.SELF],
        "script-src": [csp.constants.SELF],
        "style-src": [csp.constants.SELF, csp.constants.NONCE],
        "img-src": [csp.constants.SELF, "data:"],
        "font-src": [csp.constants.SELF],
        "connect-src": [csp.constants.SELF],
        "object-src": [csp.constants.NONE],
        "base-uri": [csp.constants.NONE],
        "frame-ancestors": [csp.constants.NONE],
        "form-action": [csp.constants.SELF],
    }
}

# --- Meter data source (see meters/ingest/) -------------------------------------------------
# The metering platform's query API; the challenge serves one static document per unit.
METERS_SOURCE_BASE_URL = env.str(
    "METERS_SOURCE_BASE_URL",
    default="https://exnaton-public-s3-bucket20230329123331528000000001.s3.eu-central-1.amazonaws.com",
)
METERS_SOURCE_PATH = env.str("METERS_SOURCE_PATH", default="/challenge/{muid}.json")
METERS_DEFAULT_MUIDS = env.list(
    "METERS_DEFAULT_MUIDS",
    default=["95ce3367-cbce-4a4d-bbe3-da082831d7bd", "1db7649e-9342-4e04-97c7-f0ebb88ed1f8"],
)
# Where a unit's history starts when nothing of it is stored yet.
METERS_HISTORY_START = env.str("METERS_HISTORY_START", default="2020-01-01T00:00:00Z")
# Each request asks for one window of time with a `limit`; a window of 31 days holds
# 31 * 96 = 2976 readings per channel, well below the limit even with several channels.
METERS_WINDOW_DAYS = _positive_int("METERS_WINDOW_DAYS", 31)
METERS_REQUEST_LIMIT = _positive_int("METERS_REQUEST_LIMIT", 10_000)
METERS_HTTP_CONNECT_TIMEOUT = env.float("METERS_HTTP_CONNECT_TIMEOUT", default=5.0)
METERS_HTTP_READ_TIMEOUT = env.float("METERS_HTTP_READ_TIMEOUT", default=30.0)
METERS_HTTP_RETRIES = env.int("METERS_HTTP_RETRIES", default=3)
METERS_HTTP_BACKOFF = env.float("METERS_HTTP_BACKOFF", default=0.5)
# Sources read at once by one ingest: polls mostly wait on the network (meters/ingest/run.py).
METERS_INGEST_CONCURRENCY = _positive_int("METERS_INGEST_CONCURRENCY", 32)
# How often a registered unit is polled unless its own poll interval says otherwise (minutes).
METERS_POLL_INTERVAL_MINUTES = _positive_int("METERS_POLL_INTERVAL_MINUTES", 15)
# After failures a unit is polled again later and later, up to this many minutes apart.
METERS_POLL_MAX_BACKOFF_MINUTES = _positive_int("METERS_POLL_MAX_BACKOFF_MINUTES", 360)
# A poll also asks again for the days of this recent history that have missing intervals.
METERS_REFILL_DAYS = env.int("METERS_REFILL_DAYS", default=7)
# Raw readings older than this many days are pruned by `prune_readings` (whole UTC months; the
# rollups keep them summed); 0 keeps them all.
METERS_RETENTION_DAYS = env.int("METERS_RETENTION_DAYS", default=0)
if METERS_RETENTION_DAYS < 0:
    raise ImproperlyConfigured(
        f"METERS_RETENTION_DAYS must be 0 (off) or a number of days, got {METERS_RETENTION_DAYS}."
    )

# --- Task queue (exnaton/celery.py, meters/tasks.py) ------------------------------------------
# Polls as Celery tasks on RabbitMQ, consumed by any number of workers. Empty: no broker, and
# everything runs in process as before (`ingest_meters`, the admin's "poll now").
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
# The queue of the polls (and of beat's enqueue); one per deployment sharing a broker.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="exnaton-ingest")
# A task is acknowledged once it has run, and given back to the queue when its worker dies:
# a worker killed at any moment loses nothing (the upsert is idempotent, a source all or
# nothing). One task fetched at a time, so that a busy worker holds no others back.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
# Seconds a task may run before it is stopped (soft: an exception it can clean up after) and
# then killed (hard). A worker's graceful shutdown waits up to the hard limit.
CELERY_TASK_TIME_LIMIT = _positive_int("CELERY_TASK_TIME_LIMIT", 300)
CELERY_TASK_SOFT_TIME_LIMIT = max(1, CELERY_TASK_TIME_LIMIT - 30)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A lost broker connection cannot acknowledge what runs: the broker gives it to another worker.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
# Logs through Django's LOGGING (one JSON object per line in production).
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Beat enqueues the due units this often (seconds); each unit is polled at its own interval.
METERS_ENQUEUE_EVERY_SECONDS = _positive_int("METERS_ENQUEUE_EVERY_SECONDS", 60)
CELERY_BEAT_SCHEDULE = {
    "enqueue-due-units": {
        "task": "meters.tasks.enqueue_due_units",
        "schedule": METERS_ENQUEUE_EVERY_SECONDS,
        # A tick that waited longer than its period is superseded by the next one.
        "options": {"expires": METERS_ENQUEUE_EVERY_SECONDS},
    }
}
# Units polled by one task: their polls overlap within the task (METERS_INGEST_CONCURRENCY).
METERS_QUEUE_BATCH = _positive_int("METERS_QUEUE_BATCH", 100)
# A unit enqueued this long ago whose task never ran (a lost message) is enqueued again.
METERS_QUEUE_LEASE_MINUTES = _positive_int("METERS_QUEUE_LEASE_MINUTES", 60)
# A source that cannot be reached is tried again by the task this many times, after
# METERS_QUEUE_RETRY_SECONDS, doubled each time; then the unit is left failing until its
# next poll (its backoff: METERS_POLL_MAX_BACKOFF_MINUTES).
METERS_QUEUE_RETRIES = env.int("METERS_QUEUE_RETRIES", default=3)
METERS_QUEUE_RETRY_SECONDS = env.float("METERS_QUEUE_RETRY_SECONDS", default=30.0)
# A unit whose poll is due for more than this is overdue (metrics, the admin's filter).
METERS_OVERDUE_MINUTES = _positive_int("METERS_OVERDUE_MINUTES", 10)

# --- Metrics (meters/metrics.py) ---------------------------------------------------------------
# /metrics answers a request with `Authorization: Bearer <METRICS_TOKEN>` (and staff users);
# empty: only staff. Workers serve their own counters on WORKER_METRICS_PORT (0: off), a port
# of the pod, not behind the ingress.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
WORKER_METRICS_PORT = env.int("WORKER_METRICS_PORT", default=0)

# --- API (meters/api) -----------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header makes a request without credentials a 401.
    # Which units a user sees is decided in meters.selectors.visible_units.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # Rates from API_THROTTLE_ANON and API_THROTTLE_USER, read on each request.
    "DEFAULT_THROTTLE_CLASSES": [
        "meters.api.throttling.AnonRateThrottle",
        "meters.api.throttling.UserRateThrottle",
    ],
    # Where a client's address comes from (see NUM_PROXIES above); DRF's default of None would
    # take whatever X-Forwarded-For the client sends.
    "NUM_PROXIES": NUM_PROXIES,
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "meters.api.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Errors as {"errors": {"<parameter>": ["<reason>"]}}.
    "EXCEPTION_HANDLER": "meters.api.errors.exception_handler",
    # Decimals travel as exact text; meters.api.serializers formats them.
    "COERCE_DECIMAL_TO_STRING": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Exnaton meter data API",
    "DESCRIPTION": "Smart-meter readings: units, filtered readings, aggregation by interval. "
    "See docs/API.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc from drf-spectacular-sidecar's static files: no CDN, works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Swagger UI would otherwise send the schema to validator.swagger.io.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}
# Readings per page of /api/v1/readings/ when page_size is not given, and the largest
# page_size a client may ask for (more is a 400).
API_PAGE_SIZE = _positive_int("API_PAGE_SIZE", 500)
API_MAX_PAGE_SIZE = _positive_int("API_MAX_PAGE_SIZE", 5000)
if API_PAGE_SIZE > API_MAX_PAGE_SIZE:
    raise ImproperlyConfigured("API_PAGE_SIZE must not exceed API_MAX_PAGE_SIZE.")
# The most buckets one series of /api/v1/readings/aggregate/ may span (more is a 400).
API_MAX_BUCKETS = _positive_int("API_MAX_BUCKETS", 10_000)

# --- Analysis (analysis/) ---------------------------------------------------------------------
# Reports are cached, keyed by the data's state; local memory unless CACHE_URL names another
# cache (filecache:///tmp/exnaton-cache shared by one host's workers, redis://host:6379/1).
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://analysis")}
# The bytes a file or local-memory cache may hold (exnaton/cache.py swaps in Django's two with
# that bound): one year-long report with its charts is megabytes, and Kubernetes gives /tmp
# 64Mi, which holds the file cache, entries being written and matplotlib's cache. Redis bounds
# itself (its maxmemory and eviction policy).
CACHE_MAX_BYTES = _positive_int("CACHE_MAX_BYTES", 32 * 2**20)
_SIZE_BOUNDED = {
    "django.core.cache.backends.filebased.FileBasedCache": "exnaton.cache.SizeBoundedFileCache",
    "django.core.cache.backends.locmem.LocMemCache": "exnaton.cache.SizeBoundedLocMemCache",
}
if CACHES["default"]["BACKEND"] in _SIZE_BOUNDED:
    CACHES["default"]["BACKEND"] = _SIZE_BOUNDED[CACHES["default"]["BACKEND"]]
    CACHES["default"].setdefault("OPTIONS", {})["MAX_BYTES"] = CACHE_MAX_BYTES
# Seconds a report stays cached; a new ingest changes the key anyway.
ANALYSIS_CACHE_TIMEOUT = _positive_int("ANALYSIS_CACHE_TIMEOUT", 24 * 3600)
# The zone of local days and times of day when a page is asked without `tz`.
ANALYSIS_TIME_ZONE = env.str("ANALYSIS_TIME_ZONE", default=TIME_ZONE)
try:
    zoneinfo.ZoneInfo(ANALYSIS_TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError):
    raise ImproperlyConfigured(
        f"ANALYSIS_TIME_ZONE must be an IANA zone, got {ANALYSIS_TIME_ZONE!r}."
    ) from None
# The grouping shown when a page is asked without `interval`: 15min, hour, day or week.
ANALYSIS_DEFAULT_INTERVAL = env.str("ANALYSIS_DEFAULT_INTERVAL", default="hour")
if ANALYSIS_DEFAULT_INTERVAL not in ("15min", "hour", "day", "week"):
    raise ImproperlyConfigured(
        f"ANALYSIS_DEFAULT_INTERVAL must be 15min, hour, day or week, got "
        f"{ANALYSIS_DEFAULT_INTERVAL!r}."
    )
# Without `start`, a report covers the last this many days of data; no window may be longer
# than ANALYSIS_MAX_DAYS (a longer one is a 400), which bounds a page's time and memory.
ANALYSIS_DEFAULT_DAYS = _positive_int("ANALYSIS_DEFAULT_DAYS", 31)
ANALYSIS_MAX_DAYS = _positive_int("ANALYSIS_MAX_DAYS", 366)
# Units on one page of the overview (`?page=N`, by muid): each one's passport is computed and
# every pair compared, so a fleet's overview is shown a page at a time.
ANALYSIS_OVERVIEW_UNITS = _positive_int("ANALYSIS_OVERVIEW_UNITS", 20)

# --- Access control and limits ----------------------------------------------------------------
# Users see the units granted to them or to one of their groups (admin: a unit's page); staff
# see every unit. The HTML pages log in through Django's views, API clients with a token
# (`Authorization: Token <key>`, admin: Auth Token) or the same session.
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Failed logins, counted per user name tried and per client address, before logins of that
# name or from that address are refused (a 429) until LOGIN_LOCKOUT_SECONDS have passed since
# the first failure counted (exnaton/login.py).
LOGIN_FAILURES_PER_ACCOUNT = _positive_int("LOGIN_FAILURES_PER_ACCOUNT", 5)
LOGIN_FAILURES_PER_CLIENT = _positive_int("LOGIN_FAILURES_PER_CLIENT", 20)
LOGIN_LOCKOUT_SECONDS = _positive_int("LOGIN_LOCKOUT_SECONDS", 900)


def _rate(name: str, default: str) -> str | None:
    """A DRF throttle rate such as 600/minute; empty turns that throttle off."""
    value = env.str(name, default=default).strip()
    if not value:
        return None
    count, _, period = value.partition("/")
    if not count.isdigit() or int(count) < 1 or period[:1] not in ("s", "m", "h", "d"):
        raise ImproperlyConfigured(
            f"{name} must be requests/period such as 600/minute (or empty: off), got {value!r}."
        )
    return value


# Requests per client before a 429 (DRF's throttles, counted in the default cache: per process
# with local memory, shared across processes with CACHE_URL=redis://...). Anonymous clients are
# counted by address; they only reach the 401 and the public schema and docs anyway.
API_THROTTLE_ANON = _rate("API_THROTTLE_ANON", "60/minute")
API_THROTTLE_USER = _rate("API_THROTTLE_USER", "1200/minute")
# Requests per user to the analysis pages and their chart images (a page is one request and one
# per chart), counted apart from the API's: a report not in the cache costs seconds of CPU.
ANALYSIS_THROTTLE_USER = _rate("ANALYSIS_THROTTLE_USER", "240/minute")
# Most rows one CSV export of /api/v1/readings/ may hold; more is a 400 (page through the JSON).
API_CSV_MAX_ROWS = _positive_int("API_CSV_MAX_ROWS", 100_000)
