"""Factories for units, channels and readings, and builders of feed documents."""

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import factory

from meters.models import Channel, Reading, Unit

IMPORT = "0100011D00FF"
EXPORT = "0100021D00FF"
INTERVAL = timedelta(minutes=15)


class UnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Unit

    muid = factory.LazyFunction(uuid.uuid4)


class ChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Channel

    unit = factory.SubFactory(UnitFactory)
    obis = IMPORT


class ReadingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Reading

    channel = factory.SubFactory(ChannelFactory)
    timestamp = factory.Sequence(lambda n: datetime(2023, 2, 1, tzinfo=UTC) + n * INTERVAL)
    value = Decimal("0.0125")
    quality = "measured"
    measurement = "energy"


def feed_record(
    timestamp: datetime | str,
    value: Any,
    *,
    muid: uuid.UUID | str,
    obis: str = IMPORT,
    quality: str = "measured",
    measurement: str = "energy",
) -> dict[str, Any]:
    """One record in the endpoint's shape."""
    if isinstance(timestamp, datetime):
        timestamp = timestamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {
        "measurement": measurement,
        "timestamp": timestamp,
        "tags": {"muid": str(muid), "quality": quality},
        obis: value,
    }


def feed_series(
    muid: uuid.UUID | str, start: datetime, count: int, *, value: float = 0.01, obis: str = IMPORT
) -> list[dict[str, Any]]:
    """`count` consecutive 15-minute records from `start`, newest first as the endpoint sends."""
    records = [feed_record(start + i * INTERVAL, value, muid=muid, obis=obis) for i in range(count)]
    return records[::-1]


def feed_document(records: list[dict[str, Any]]) -> bytes:
    return json.dumps({"data": records}).encode()
