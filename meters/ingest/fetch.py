"""Open a source of meter data: a local file, or an HTTP(S) URL read as a stream.

HTTP goes through one `requests` session with connect/read timeouts and retries with backoff on
connection errors, 429 and 5xx. A 4xx other than 429 fails at once. Every failure surfaces as a
SourceError with a one-line message.
"""

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import requests
import urllib3
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from meters.ingest.errors import SourceError, SourceUnreachable, one_line

RETRY_STATUSES = (429, 500, 502, 503, 504)
_CONNECTION_PREFIX = re.compile(r"^\w*Connection(Pool)?\([^)]*\): ")


def is_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def unit_url(muid: str, *, base_url: str | None = None) -> str:
    """The URL of one unit's data at its own source, or else at the configured one."""
    base = (base_url or settings.METERS_SOURCE_BASE_URL).rstrip("/")
    return base + settings.METERS_SOURCE_PATH.format(muid=muid)


def http_session() -> requests.Session:
    """A session that retries what is worth retrying, with exponential backoff, and keeps its
    connections alive for the next request."""
    retry = Retry(
        total=settings.METERS_HTTP_RETRIES,
        backoff_factor=settings.METERS_HTTP_BACKOFF,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET"}),
        respect_retry_after_header=True,
        raise_on_status=True,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["Accept"] = "application/json"
    return session


@contextmanager
def open_location(
    location: str, *, session: requests.Session, params: Mapping[str, str] | None = None
) -> Iterator[IO[bytes]]:
    """Open a URL or a file path as a binary stream of the document."""
    if is_url(location):
        with _open_url(session, location, params) as stream:
            yield stream
    else:
        with _open_file(location) as stream:
            yield stream


@contextmanager
def _open_file(path: str) -> Iterator[IO[bytes]]:
    try:
        stream = Path(path).open("rb")  # noqa: SIM115 - closed by the context below
    except OSError as error:
        raise SourceError(f"cannot read {path}: {error.strerror}") from error
    with stream:
        yield stream


@contextmanager
def _open_url(
    session: requests.Session, url: str, params: Mapping[str, str] | None
) -> Iterator[IO[bytes]]:
    timeout = (settings.METERS_HTTP_CONNECT_TIMEOUT, settings.METERS_HTTP_READ_TIMEOUT)
    try:
        response = session.get(url, params=params, stream=True, timeout=timeout)
    except requests.exceptions.RetryError as error:
        raise SourceError(
            f"HTTP error after {settings.METERS_HTTP_RETRIES} retries: {_reason(error)}"
        ) from error
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as error:
        raise SourceUnreachable(f"cannot reach {url}: {_reason(error)}") from error
    except requests.RequestException as error:
        raise SourceError(f"request to {url} failed: {_reason(error)}") from error
    with response:
        if response.status_code >= 400:
            raise SourceError(f"HTTP {response.status_code} {response.reason}")
        response.raw.decode_content = True
        yield _BodyStream(response.raw)


class _BodyStream:
    """The response body as a file, with transport failures turned into SourceError."""

    def __init__(self, raw: urllib3.BaseHTTPResponse) -> None:
        self._raw = raw

    def read(self, size: int = -1) -> bytes:
        try:
            return self._raw.read(size)
        except urllib3.exceptions.ReadTimeoutError as error:
            raise SourceError(
                f"read timed out after {settings.METERS_HTTP_READ_TIMEOUT:g} s"
            ) from error
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise SourceError(f"connection broken while reading: {_reason(error)}") from error


def _reason(error: BaseException) -> str:
    """The innermost cause of a requests/urllib3 error, on one line."""
    while error.__context__ is not None and not str(error):
        error = error.__context__
    inner = error.args[0] if error.args else error
    if isinstance(inner, urllib3.exceptions.MaxRetryError) and inner.reason is not None:
        inner = inner.reason
    # urllib3 prefixes its messages with the connection object's repr; the URL is shown anyway.
    return _CONNECTION_PREFIX.sub("", one_line(inner))
