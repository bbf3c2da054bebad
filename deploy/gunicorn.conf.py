"""gunicorn settings, every one from the environment (see .env.example).

Loaded by `gunicorn -c deploy/gunicorn.conf.py` in deploy/entrypoint.sh. Logs go to stdout in
the same format as Django's (DJANGO_LOG_FORMAT), one JSON object per line by default.
"""

import os
import sys
from pathlib import Path

# The project root, so that the settings module can be read for its log formats.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exnaton.settings import LOG_FORMAT, LOG_FORMATTERS


def _positive_int(name: str, default: int) -> int:
    text = os.environ.get(name, "")
    try:
        value = int(text) if text else default
    except ValueError:
        raise SystemExit(f"{name} must be a positive integer, got {text!r}.") from None
    if value < 1:
        raise SystemExit(f"{name} must be a positive integer, got {value}.")
    return value


bind = os.environ.get("GUNICORN_BIND") or f"0.0.0.0:{_positive_int('PORT', 8000)}"
# Processes x threads is the number of requests served at once. The views are I/O-bound on the
# database, so a few threads per process go further than more processes for the same memory.
workers = _positive_int("WEB_CONCURRENCY", 2)
threads = _positive_int("GUNICORN_THREADS", 4)
# A request that runs longer than this is killed; the analysis pages are the slowest ones.
timeout = _positive_int("GUNICORN_TIMEOUT", 60)
graceful_timeout = _positive_int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _positive_int("GUNICORN_KEEPALIVE", 5)
# Recycle workers now and then, so that a slow leak cannot grow without bound. Each worker adds
# a random 0..jitter to its limit; half the limit by default, so that workers started together
# do not all recycle together (they did within seconds of each other with a jitter of 100).
max_requests = _positive_int("GUNICORN_MAX_REQUESTS", 1000)
max_requests_jitter = _positive_int("GUNICORN_MAX_REQUESTS_JITTER", max(1, max_requests // 2))
# Load the application in the master, once, and fork every worker from it (when_ready below
# warms it further): a new or recycled worker then serves its first request at once, where it
# used to spend seconds importing pandas, statsmodels and matplotlib. No database connection is
# opened before the fork (Django connects on a request's first query).
preload_app = True
# Worker heartbeats in memory: the root filesystem may be read-only, and /tmp on disk is slow.
SHM = "/dev/shm"  # noqa: S108 - a tmpfs on Linux, the place gunicorn's docs advise
if Path(SHM).is_dir():
    worker_tmp_dir = SHM

# No control socket for `gunicornc`: nobody attaches to a container that way, and $HOME is not
# writable there.
control_socket_disable = True

accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": LOG_FORMATTERS,
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": LOG_FORMAT,
        }
    },
    "root": {"level": "INFO", "handlers": []},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["stdout"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["stdout"], "propagate": False},
    },
}


def when_ready(server) -> None:
    """Warm the preloaded application in the master, before any worker is forked: import the
    URLconf and so every view (pandas, statsmodels, matplotlib), draw a tiny SVG (matplotlib's
    fonts and backend) and compile the pages' templates. Touches no database."""
    import io

    from django.template.loader import get_template
    from django.urls import get_resolver
    from matplotlib.figure import Figure

    get_resolver().url_patterns  # noqa: B018 - the import of every view module is the point
    Figure(figsize=(1, 1)).savefig(io.BytesIO(), format="svg")
    for name in WARM_TEMPLATES:
        get_template(name)


# The templates of the pages most requests render.
WARM_TEMPLATES = (
    "home.html",
    "analysis/overview.html",
    "analysis/report.html",
    "registration/login.html",
)
