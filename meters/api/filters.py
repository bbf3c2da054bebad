"""Query parameters of the readings endpoints: FilterSets that validate them, then filter.

Each parameter is parsed into a domain value (UUID, hex OBIS code, aware datetime, ZoneInfo)
before it reaches a query; anything that does not parse is a 400 naming the parameter.
"""

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import django_filters
from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.backends.utils import split_tzname_delta

from meters import moments
from meters.models import Reading
from meters.moments import EARLIEST, LATEST, format_utc, parse_moment
from meters.obis import obis_hex
from meters.selectors import Agg, Interval

# Values one list parameter (muid, obis, quality) may carry.
MAX_VALUES = 100
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
            f"{text!r} is not an OBIS code such as 0100011D00FF or 1-0:1.29.0*255."
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
    """An aware datetime from ISO 8601 with an offset, or a plain date (midnight in `tz`)."""
    if "\x00" in text:
        raise ValidationError("Not an ISO 8601 date or date-time.")
    try:
        moment = parse_moment(text, tz)
    except ValueError as error:
        raise ValidationError(str(error)) from None
    if not EARLIEST <= moment < LATEST:
        raise ValidationError(f"Must lie in [{format_utc(EARLIEST)}, {format_utc(LATEST)}).")
    return moment


class ValuesWidget(forms.TextInput):
    """Values repeated (?muid=a&muid=b), comma-separated (?muid=a,b), or both."""

    def value_from_datadict(self, data, files, name):
        values = data.getlist(name) if hasattr(data, "getlist") else [data.get(name)]
        return [part.strip() for value in values if value for part in value.split(",")]


class ValuesField(forms.Field):
    """A list of values, each parsed by `parse`; duplicates dropped, order kept."""

    widget = ValuesWidget

    def __init__(self, *, parse, **kwargs):
        self.parse = parse
        super().__init__(**kwargs)

    def to_python(self, value):
        texts = [text for text in value or [] if text]
        if len(texts) > MAX_VALUES:
            raise ValidationError(f"At most {MAX_VALUES} values.")
        errors, parsed = [], []
        for text in texts:
            try:
                parsed.append(self.parse(text))
            except ValidationError as error:
                errors.extend(error.messages)
        if errors:
            raise ValidationError(errors)
        return list(dict.fromkeys(parsed))


class ValuesFilter(django_filters.Filter):
    field_class = ValuesField

    def filter(self, qs, value):
        return qs.filter(**{f"{self.field_name}__in": value}) if value else qs


class ZoneField(forms.CharField):
    def to_python(self, value):
        name = super().to_python(value)
        return parse_zone(name) if name else None


class ZoneFilter(django_filters.Filter):
    field_class = ZoneField


class ReadingFilterForm(forms.Form):
    """Reads start and end in the zone given by tz, and fills in the defaults."""

    DEFAULTS = {"ordering": "timestamp", "agg": Agg.SUM.value}

    def clean(self):
        data = super().clean()
        # An invalid tz is reported by its field; start and end are then read in the default zone.
        tz = data.get("tz") or ZoneInfo(settings.TIME_ZONE)
        data["tz"] = tz
        for name in ("start", "end"):
            text = data.get(name)
            if not text:
                data[name] = None
            else:
                try:
                    data[name] = parse_bound(text, tz)
                except ValidationError as error:
                    self.add_error(name, error)
        start, end = data.get("start"), data.get("end")
        if start and end and end <= start:
            self.add_error("end", "Must be later than start.")
        for name, default in self.DEFAULTS.items():
            if name in self.fields and name not in self.errors and not data.get(name):
                data[name] = default
        return data


class ReadingFilter(django_filters.FilterSet):
    """The filters both readings endpoints share; each narrows the readings (AND)."""

    muid = ValuesFilter(field_name="channel__unit__muid", parse=parse_muid)
    obis = ValuesFilter(field_name="channel__obis", parse=parse_obis)
    quality = ValuesFilter(field_name="quality", parse=parse_quality)
    start = django_filters.CharFilter(field_name="timestamp", lookup_expr="gte")
    end = django_filters.CharFilter(field_name="timestamp", lookup_expr="lt")
    # Read by the form (plain dates in start/end) and by the aggregation; selects no rows.
    tz = ZoneFilter(method="keep")

    class Meta:
        model = Reading
        fields = []
        form = ReadingFilterForm

    def keep(self, queryset, name, value):
        """For parameters that shape the answer rather than select rows."""
        return queryset


class ReadingListFilter(ReadingFilter):
    ordering = django_filters.ChoiceFilter(
        choices=[("timestamp", "oldest first"), ("-timestamp", "newest first")], method="keep"
    )


class ReadingAggregateFilter(ReadingFilter):
    interval = django_filters.ChoiceFilter(
        choices=[(interval.value, interval.value) for interval in Interval],
        method="keep",
        required=True,
    )
    agg = django_filters.ChoiceFilter(
        choices=[(agg.value, agg.value) for agg in Agg], method="keep"
    )
