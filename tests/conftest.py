"""Shared fixtures: the recorded challenge responses, served over real HTTP on loopback."""

import json
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings as django_settings

CHALLENGE_DIR = Path(django_settings.BASE_DIR) / "data" / "challenge"


@dataclass(frozen=True)
class ChallengeUnit:
    muid: uuid.UUID
    obis: str
    readings: int
    total: Decimal
    first: str
    last: str

    @property
    def path(self) -> Path:
        return CHALLENGE_DIR / f"{self.muid}.json"

    @property
    def body(self) -> bytes:
        return self.path.read_bytes()


# The known figures of the two recorded responses (see data/README.md).
CONSUMER = ChallengeUnit(
    uuid.UUID("95ce3367-cbce-4a4d-bbe3-da082831d7bd"),
    "0100011D00FF",
    2688,
    Decimal("97.6082"),
    "2023-02-01T00:00:00+00:00",
    "2023-02-28T23:45:00+00:00",
)
PRODUCER = ChallengeUnit(
    uuid.UUID("1db7649e-9342-4e04-97c7-f0ebb88ed1f8"),
    "0100021D00FF",
    2688,
    Decimal("36.19725"),
    "2023-02-01T00:00:00+00:00",
    "2023-02-28T23:45:00+00:00",
)
CHALLENGE_UNITS = (CONSUMER, PRODUCER)


@pytest.fixture
def source(settings, httpserver):
    """Point the configured source at the loopback server, with short timeouts."""
    settings.METERS_SOURCE_BASE_URL = httpserver.url_for("/").rstrip("/")
    settings.METERS_SOURCE_PATH = "/challenge/{muid}.json"
    settings.METERS_HTTP_CONNECT_TIMEOUT = 2
    settings.METERS_HTTP_READ_TIMEOUT = 2
    settings.METERS_HTTP_RETRIES = 2
    settings.METERS_HTTP_BACKOFF = 0
    return httpserver


@pytest.fixture
def challenge_source(source):
    """The loopback server answering as the live endpoint does, for both challenge units."""
    for unit in CHALLENGE_UNITS:
        source.expect_request(f"/challenge/{unit.muid}.json").respond_with_data(
            unit.body, content_type="application/json"
        )
    return source


def challenge_records(unit: ChallengeUnit) -> list[dict]:
    return json.loads(unit.body)["data"]


@pytest.fixture
def challenge_data(db):
    """Both challenge units ingested from the project's own copy of the recorded responses."""
    from meters.ingest import ingest_location

    for unit in CHALLENGE_UNITS:
        report = ingest_location(str(unit.path))
        assert report.ok, report.error
    return CHALLENGE_UNITS
