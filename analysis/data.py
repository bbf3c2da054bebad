"""Readings as pandas Series, read through meters.selectors in one query per call."""

from datetime import datetime

import numpy as np
import pandas as pd
from django.db.models import QuerySet

from meters.models import Channel, Reading, energy_sum
from meters.selectors import IN_BOUNDS, channel_readings


def _series(rows: list[tuple], *, name: str) -> pd.Series:
    if not rows:
        return pd.Series([], index=pd.DatetimeIndex([], tz="UTC"), dtype=float, name=name)
    timestamps, values = zip(*rows, strict=True)
    index = pd.DatetimeIndex(timestamps).tz_convert("UTC")
    return pd.Series(np.asarray(values, dtype=float), index=index, name=name)


def channel_series(
    *, channel: Channel, start: datetime | None = None, end: datetime | None = None
) -> pd.Series:
    """The channel's readings in [start, end) as kWh floats indexed by UTC timestamps."""
    rows = list(
        channel_readings(channel=channel, start=start, end=end).values_list("timestamp", "value")
    )
    return _series(rows, name=channel.obis)


def channels_frame(
    *, channels: list[Channel], start: datetime | None = None, end: datetime | None = None
) -> dict[int, pd.Series]:
    """The readings of several channels in [start, end), one query, as channel id -> Series."""
    readings = Reading.objects.filter(channel__in=channels)
    if start is not None:
        readings = readings.filter(timestamp__gte=start)
    if end is not None:
        readings = readings.filter(timestamp__lt=end)
    rows: dict[int, list[tuple]] = {channel.pk: [] for channel in channels}
    for channel_id, timestamp, value in readings.order_by("channel_id", "timestamp").values_list(
        "channel_id", "timestamp", "value"
    ):
        rows[channel_id].append((timestamp, value))
    return {channel.pk: _series(rows[channel.pk], name=channel.obis) for channel in channels}


def channel_totals(channels: QuerySet[Channel] | list[Channel]) -> dict[int, float]:
    """Total energy (kWh) of each channel's readings inside IN_BOUNDS, summed by the database in
    one query."""
    totals = (
        Reading.objects.filter(IN_BOUNDS, channel__in=channels)
        .values("channel_id")
        .annotate(total=energy_sum())
        .order_by()
    )
    return {row["channel_id"]: float(row["total"]) for row in totals}
