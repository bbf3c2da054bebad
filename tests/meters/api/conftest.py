"""Helpers for the API tests: requests through the test client, synthetic readings in bulk."""

from datetime import datetime
from decimal import Decimal

import pytest

from meters import rollups
from meters.models import Channel, Reading
from tests.factories import INTERVAL

READINGS = "/api/v1/readings/"
AGGREGATE = "/api/v1/readings/aggregate/"
UNITS = "/api/v1/units/"
# Queries each request of the `api` client spends on its login: the session, then its user.
LOGIN_QUERIES = 2


def body(response) -> str:
    """The text of a response, streamed or not."""
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


@pytest.fixture
def api(staff_client):
    """GET with query parameters as a staff user (who reads every unit); a list repeats."""

    def get(path: str, **params):
        return staff_client.get(path, params)

    return get


def add_readings(
    channel: Channel, start: datetime, count: int, *, value: str = "0.25", quality="measured"
) -> list[Reading]:
    """`count` consecutive 15-minute readings of `channel` from `start`, in one insert, and
    its rollups brought up to date as the ingest would."""
    readings = Reading.objects.bulk_create(
        Reading(
            channel=channel,
            timestamp=start + i * INTERVAL,
            value=Decimal(value),
            quality=quality,
            measurement="energy",
        )
        for i in range(count)
    )
    rollups.refresh([channel.pk])
    return readings
