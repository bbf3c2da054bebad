"""Readings as pandas Series of the energy of each interval, read through meters.selectors in
one query per call.

A channel's readings are that energy when its OBIS code measures energy per measuring period.
A total register counts up since installation and instantaneous power is a rate: their series
are turned into the energy of each interval here (interval_energy), so that every statistic,
chart and verdict reads the same quantity whatever the meter sends.
"""

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from django.db.models import Max, Min

from analysis.stats import detect_interval
from meters.models import Channel, Reading, energy_sum
from meters.obis import Measure
from meters.selectors import IN_BOUNDS, channel_readings

# What the analysis makes of readings that are not an interval's energy, as pages say it.
MEASURE_NOTES = {
    Measure.REGISTER: "The channel is a total register, which counts the energy since the meter "
    "was installed: this analysis reads the energy of each interval as the difference between "
    "a reading and the next. A difference across missing readings, or where the count went "
    "back (a reset or a new meter), is left out.",
    Measure.POWER: "The channel holds instantaneous power: this analysis reads the energy of "
    "each interval as the power at its start times the interval's length.",
}


def _series(rows: list[tuple], *, channel: Channel) -> pd.Series:
    """The energy of each interval of the channel from its (timestamp, value) rows."""
    if not rows:
        index = pd.DatetimeIndex([], tz="UTC")
        return pd.Series([], index=index, dtype=float, name=channel.obis)
    timestamps, values = zip(*rows, strict=True)
    index = pd.DatetimeIndex(timestamps).tz_convert("UTC")
    readings = pd.Series(np.asarray(values, dtype=float), index=index, name=channel.obis)
    return interval_energy(readings, measure=channel.decoded.measure)


def channel_series(
    *, channel: Channel, start: datetime | None = None, end: datetime | None = None
) -> pd.Series:
    """The energy of each interval of the channel in [start, end), as floats indexed by the
    intervals' UTC starts (interval_energy of its readings)."""
    rows = list(
        channel_readings(channel=channel, start=start, end=end).values_list("timestamp", "value")
    )
    return _series(rows, channel=channel)


def interval_energy(series: pd.Series, *, measure: Measure) -> pd.Series:
    """The energy of each interval [t, t + step) from readings of `measure`, indexed by t."""
    if measure is Measure.PER_PERIOD:
        return series
    step = detect_interval(series)
    if measure is Measure.POWER:
        return series * (step / pd.Timedelta(hours=1))
    following = series.shift(-1)
    spans = series.index.to_series().diff().shift(-1)
    taken = (spans == step).to_numpy() & (following >= series).to_numpy()
    return (following - series)[taken].rename(series.name)


def channels_frame(
    *, channels: list[Channel], start: datetime | None = None, end: datetime | None = None
) -> dict[int, pd.Series]:
    """channel_series of several channels, in one query, as channel id -> Series."""
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
    return {channel.pk: _series(rows[channel.pk], channel=channel) for channel in channels}


def channel_totals(channels: list[Channel]) -> dict[int, float]:
    """Total energy of each channel's readings inside IN_BOUNDS, from one query: an interval
    channel's sum; a register's rise, its largest reading less its smallest (it counts up but
    for a reset); a power channel's sum times the mean step between its readings."""
    rows = (
        Reading.objects.filter(IN_BOUNDS, channel__in=channels)
        .values("channel_id")
        .annotate(total=energy_sum(), low=Min("value"), high=Max("value"))
        .order_by()
    )
    found = {row["channel_id"]: row for row in rows}
    totals = {}
    for channel in channels:
        if (row := found.get(channel.pk)) is None:
            continue
        measure = channel.decoded.measure
        if measure is Measure.REGISTER:
            totals[channel.pk] = float(row["high"] - row["low"])
        elif measure is Measure.POWER:
            totals[channel.pk] = float(row["total"]) * _mean_step_hours(channel)
        else:
            totals[channel.pk] = float(row["total"])
    return totals


def _mean_step_hours(channel: Channel) -> float:
    first, last, count = channel.first_reading_at, channel.last_reading_at, channel.reading_count
    if first is None or last is None or count < 2:
        return 0.0
    return (last - first) / (count - 1) / timedelta(hours=1)
