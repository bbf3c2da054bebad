"""The rules of the query parameters every front end shares: zone, time range, interval, unit,
OBIS code, quality.

The API's filters (meters/api/filters.py) and the analysis pages (analysis/params.py) both
validate through here, so a value is accepted or refused, with the same message, wherever it
is sent. Each rule turns text into a domain value (UUID, hex OBIS code, ZoneInfo, aware
datetime, Interval) or raises ValidationError saying what was expected.
"""

import uuid
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.backends.utils import split_tzname_delta

from meters import moments
from meters.models import Reading
from meters.moments import EARLIEST, LATEST, format_utc, parse_moment
from meters.obis import obis_hex
from meters.selectors import Interval

QUALITY_MAX_LENGTH = Reading._meta.get_field("quality").max_length


def parse_muid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ValidationError(f"{text!r} is not a UUID.") from None


def parse_obis(text: str) -> str:
    """The hex key of an OBIS code given as hex (0100011D00FF) or readable (1-0:1.29.0*255)."""
    try:
        return obis_hex(text)
    except ValueError:
        raise ValidationError(
            f"{text[:40]!r} is not an OBIS code such as 0100011D00FF or 1-0:1.29.0*255."
        ) from None


def parse_quality(text: str) -> str:
    if len(text) > QUALITY_MAX_LENGTH or "\x00" in text:
        raise ValidationError(f"{text[:40]!r} is not a reading quality such as measured.")
    return text


def parse_zone(name: str) -> ZoneInfo:
    # Django's database functions read "Etc/GMT+10" as a UTC offset of +10:00, the opposite of
    # what the zone means; such names are refused rather than answered wrongly.
    try:
        zone = moments.parse_zone(name)
    except ValueError:
        zone = None
    if zone is None or split_tzname_delta(name)[1]:
        raise ValidationError(
            f"{name[:60]!r} is not an IANA time zone name such as Europe/Zurich or UTC."
        )
    return zone


def parse_bound(text: str, tz: ZoneInfo) -> datetime:
    """An aware datetime in [EARLIEST, LATEST) from ISO 8601 with an offset, or a plain date
    (midnight in `tz`)."""
    if "\x00" in text:
        raise ValidationError("Not an ISO 8601 date or date-time.")
    try:
        moment = parse_moment(text, tz)
    except (ValueError, OverflowError) as error:
        raise ValidationError(f"{error}.") from None
    if not EARLIEST <= moment < LATEST:
        raise ValidationError(f"Must lie in [{format_utc(EARLIEST)}, {format_utc(LATEST)}).")
    return moment


class ZoneField(forms.CharField):
    """An IANA zone; None when not given (the form chooses the default)."""

    def to_python(self, value):
        name = super().to_python(value)
        return parse_zone(name) if name else None


class ObisField(forms.CharField):
    """One OBIS code, hex or readable, as its hex key; None when not given."""

    def to_python(self, value):
        text = super().to_python(value)
        return parse_obis(text) if text else None


class IntervalField(forms.ChoiceField):
    """One of `intervals` (every Interval unless a front end offers fewer), as an Interval."""

    def __init__(self, *, intervals: Iterable[str] = tuple(Interval), **kwargs):
        self.intervals = [Interval(name) for name in intervals]
        super().__init__(choices=[(i.value, i.value) for i in self.intervals], **kwargs)

    def validate(self, value):
        if value and value not in self.intervals:
            names = ", ".join(self.intervals)
            raise ValidationError(f"{value[:40]!r} is not an interval: one of {names}.")
        super().validate(value)

    def to_python(self, value):
        text = super().to_python(value)
        return Interval(text) if text in self.intervals else text or None


class RangeForm(forms.Form):
    """A time range [start, end) read in the zone `tz`, as both front ends take it.

    `start` and `end` are ISO 8601 with an offset, or plain dates (midnight in `tz`); each must
    lie in [EARLIEST, LATEST), and end after start. An invalid `tz` is reported by its field and
    start and end are still checked, read in the default zone, so every bad parameter is listed
    at once. The cleaned `tz` is the zone given, else `default_tz` (a community's zone), else the
    setting named by `default_zone`.
    """

    default_zone = "TIME_ZONE"

    start = forms.CharField(required=False, help_text="ISO 8601 with an offset, or a date.")
    end = forms.CharField(required=False, help_text="Exclusive; ISO 8601 or a date.")
    tz = ZoneField(required=False, help_text="IANA zone of the calendar, e.g. Europe/Zurich.")

    def __init__(self, *args, default_tz: ZoneInfo | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.default_tz = default_tz

    def clean(self):
        data = super().clean()
        tz = data.get("tz") or self.default_tz or ZoneInfo(getattr(settings, self.default_zone))
        data["tz"] = tz
        for name in ("start", "end"):
            text = data.get(name)
            data[name] = None
            if text:
                try:
                    data[name] = parse_bound(text, tz)
                except ValidationError as error:
                    self.add_error(name, error)
        start, end = data.get("start"), data.get("end")
        if start and end and end <= start:
            self.add_error("end", "Must be later than start.")
        return data

    def error_list(self) -> list[tuple[str, str]]:
        """(parameter, message) for every error, in the order of the fields."""
        return [(field, message) for field, messages in self.errors.items() for message in messages]
