"""Shared fixtures: the recorded challenge responses, served over real HTTP on loopback."""

import json
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.test import Client

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


# --- Logins ----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _throttle_counts_cleared():
    """The API's throttles count in the cache: no test may inherit another's requests."""
    cache.clear()


@pytest.fixture
def staff_client(client, django_user_model):
    """The test client logged in as a staff user, who reads every unit."""
    user = django_user_model.objects.create_user("staff", password="unused", is_staff=True)
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def reader_client(db, django_user_model):
    """Makes test clients logged in as new non-staff users, each granted the given units.

    `reader_client(unit_or_muid, ...)` returns a Client with its user as `.user`.
    """
    from meters.models import Unit

    made = []

    def make(*units) -> Client:
        user = django_user_model.objects.create_user(f"reader{len(made)}", password="unused")
        muids = [getattr(unit, "muid", unit) for unit in units]
        user.granted_units.set(Unit.objects.filter(muid__in=muids))
        client = Client()
        client.force_login(user)
        client.user = user
        made.append(client)
        return client

    return make
