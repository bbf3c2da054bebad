"""Each log record is written once, on the terminal of `make run` (DEBUG on) too.

Django configures its DEFAULT_LOGGING before the project's LOGGING: the `django` logger keeps
Django's own `console` handler (plain message, active only with DEBUG) and also propagates to
the root logger's handler of exnaton/settings.py (formatted). With DEBUG on, every record of a
`django.*` logger ("Not Found: /nope") is thus printed twice, plain and formatted. The request
lines of runserver (`django.server`) do not propagate and are printed once.
"""

import logging

import pytest
from django.utils.log import configure_logging


def writers(record: logging.LogRecord) -> list[logging.Handler]:
    """The handlers that would write `record`, walking up from its logger as logging does."""
    found = []
    logger = logging.getLogger(record.name)
    while logger:
        found += [
            handler
            for handler in logger.handlers
            if record.levelno >= handler.level
            and handler.filter(record)
            # pytest's own handlers, which capture logs for its reports
            and not type(handler).__module__.startswith("_pytest")
        ]
        logger = logger.parent if logger.propagate else None
    return found


@pytest.fixture
def debug_logging(settings):
    settings.DEBUG = True
    configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)
    yield
    settings.DEBUG = False
    configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)


def test_a_django_warning_is_written_once_with_debug_on(debug_logging):
    record = logging.LogRecord(
        "django.request", logging.WARNING, __file__, 1, "Not Found: /nope", None, None
    )

    assert len(writers(record)) == 1


def test_a_request_line_of_runserver_is_written_once_with_debug_on(debug_logging):
    record = logging.LogRecord(
        "django.server", logging.INFO, __file__, 1, '"GET / HTTP/1.1" 200 1', None, None
    )

    assert len(writers(record)) == 1


def test_an_application_record_is_written_once_with_debug_on(debug_logging):
    record = logging.LogRecord("meters.ingest", logging.INFO, __file__, 1, "loaded", None, None)

    assert len(writers(record)) == 1
