"""Settings for the exnaton project.

Every setting that differs between machines is read from the environment here, and only here
(see `.env.example` for the full list). Development and production differ by environment alone.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()


def _positive_int(name: str, default: int) -> int:
    value = env.int(name, default=default)
    if value < 1:
        raise ImproperlyConfigured(f"{name} must be a positive integer, got {value}.")
    return value


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
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_admin_lightweight_date_hierarchy",
    "meters",
    "analysis",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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
STATIC_ROOT = BASE_DIR / "staticfiles"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
    # A source that fails after its retries is reported by ingest_meters; urllib3's warning
    # on each retry would only repeat it.
    "loggers": {"urllib3": {"level": "ERROR"}},
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
# Readings are sent to the database in batches of this size; it bounds the ingest's memory.
METERS_INGEST_BATCH_SIZE = _positive_int("METERS_INGEST_BATCH_SIZE", 20_000)
