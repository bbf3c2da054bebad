"""Read queries over units, channels and readings. Views and reports read through here."""

from datetime import datetime

from django.db.models import Prefetch, QuerySet

from meters.models import Channel, Reading, Unit


def units_with_channels() -> QuerySet[Unit]:
    """All units, each with its channels prefetched (two queries whatever the count)."""
    return Unit.objects.prefetch_related(
        Prefetch("channels", queryset=Channel.objects.order_by("obis"))
    )


def channel_readings(
    *, channel: Channel, start: datetime | None = None, end: datetime | None = None
) -> QuerySet[Reading]:
    """The readings of one channel in [start, end), oldest first (served by its index)."""
    readings = Reading.objects.filter(channel=channel)
    if start is not None:
        readings = readings.filter(timestamp__gte=start)
    if end is not None:
        readings = readings.filter(timestamp__lt=end)
    return readings.order_by("timestamp")
