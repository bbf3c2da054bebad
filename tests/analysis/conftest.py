"""Series for the analysis tests: the recorded challenge data and synthetic shapes."""

import json
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from django.core.cache import cache

from tests.conftest import CONSUMER, PRODUCER, ChallengeUnit

ZURICH = ZoneInfo("Europe/Zurich")


def recorded_series(unit: ChallengeUnit) -> pd.Series:
    """A recorded response as a float Series, straight from the file (not through the app)."""
    records = json.loads(unit.body)["data"]
    series = pd.Series(
        [float(r[unit.obis]) for r in records],
        index=pd.DatetimeIndex([r["timestamp"] for r in records]).tz_convert("UTC"),
    )
    return series.sort_index()


@pytest.fixture
def consumer_series() -> pd.Series:
    return recorded_series(CONSUMER)


@pytest.fixture
def producer_series() -> pd.Series:
    return recorded_series(PRODUCER)


def grid(days: int = 21, start: str = "2023-06-05") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=days * 96, freq="15min", tz=ZURICH).tz_convert("UTC")


def pv_shaped(days: int = 21, seed: int = 1) -> pd.Series:
    """Zero at night, a bell around local noon, scaled by a random daily weather factor."""
    index = grid(days)
    local = index.tz_convert(ZURICH)
    hours = local.hour + local.minute / 60
    bell = np.clip(np.sin(np.pi * (hours - 6) / 14), 0, None)
    weather = np.random.default_rng(seed).uniform(0.1, 1.0, days).repeat(96)
    return pd.Series(np.round(0.3 * bell * weather, 4), index=index)


def consumption_shaped(days: int = 21, seed: int = 2) -> pd.Series:
    """A small base load around the clock with short random spikes of different sizes (many
    appliances) and an evening rise."""
    index = grid(days)
    hours = index.tz_convert(ZURICH).hour
    rng = np.random.default_rng(seed)
    spikes = rng.random(len(index)) < 0.05
    sizes = rng.uniform(0.2, 0.8, len(index))
    values = 0.012 + 0.02 * ((hours >= 18) & (hours < 22)) + spikes * sizes
    return pd.Series(np.round(values, 4), index=index)


@pytest.fixture(autouse=True)
def _empty_cache():
    """Reports are cached in local memory; no test may see another's."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def ingest_series(db, tmp_path):
    """Ingest a Series as a unit's channel through the real ingest; returns the muid."""
    import uuid

    from meters.ingest import ingest_location
    from tests.factories import feed_document, feed_record

    def ingest(series: pd.Series, *, obis: str, muid: uuid.UUID | None = None) -> uuid.UUID:
        muid = muid or uuid.uuid4()
        records = [
            feed_record(stamp.to_pydatetime(), float(value), muid=muid, obis=obis)
            for stamp, value in series.items()
        ]
        path = tmp_path / f"{muid}-{obis}.json"
        path.write_bytes(feed_document(records[::-1]))
        report = ingest_location(str(path))
        assert report.ok, report.error
        return muid

    return ingest
