"""The query parameters of the analysis pages, validated before any query is made."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings

from analysis.stats import INTERVALS
from meters.moments import parse_moment, parse_zone
from meters.obis import is_obis_hex

INTERVAL_CHOICES = [(name, name) for name in INTERVALS]


@dataclass(frozen=True, slots=True)
class ReportParams:
    """What a report shows: a window [start, end) (None: the data's own), a zone, a grouping."""

    tz: ZoneInfo
    interval: str
    start: datetime | None = None
    end: datetime | None = None
    channel: str | None = None

    def key(self) -> str:
        """The parameters as text, for a cache key."""
        start = self.start.isoformat() if self.start else "-"
        end = self.end.isoformat() if self.end else "-"
        return f"{start}|{end}|{self.tz.key}|{self.interval}|{self.channel or '-'}"


class ReportParamsForm(forms.Form):
    start = forms.CharField(required=False, help_text="ISO 8601 with an offset, or a date.")
    end = forms.CharField(required=False, help_text="Exclusive; ISO 8601 or a date.")
    tz = forms.CharField(required=False, help_text="IANA zone of the calendar, e.g. UTC.")
    interval = forms.ChoiceField(choices=INTERVAL_CHOICES, required=False)
    channel = forms.CharField(required=False, help_text="OBIS code in hex, e.g. 0100011D00FF.")

    def clean_tz(self) -> ZoneInfo:
        name = self.cleaned_data["tz"].strip() or settings.ANALYSIS_TIME_ZONE
        try:
            return parse_zone(name)
        except ValueError:
            raise forms.ValidationError(f"{name!r} is not an IANA time zone.") from None

    def clean_interval(self) -> str:
        return self.cleaned_data["interval"] or settings.ANALYSIS_DEFAULT_INTERVAL

    def clean_channel(self) -> str | None:
        value = self.cleaned_data["channel"].strip().upper()
        if value and not is_obis_hex(value):
            raise forms.ValidationError(f"{value!r} is not a 12-digit hex OBIS code.")
        return value or None

    def clean(self) -> dict:
        cleaned = super().clean()
        tz = cleaned.get("tz")
        if tz is None:
            return cleaned
        for name in ("start", "end"):
            text = (self.data.get(name) or "").strip()
            if not text:
                cleaned[name] = None
                continue
            try:
                cleaned[name] = parse_moment(text, tz)
            except ValueError as error:
                self.add_error(name, str(error))
        start, end = cleaned.get("start"), cleaned.get("end")
        if start is not None and end is not None:
            if end <= start:
                self.add_error("end", "end must be after start.")
            elif end - start > timedelta(days=settings.ANALYSIS_MAX_DAYS):
                self.add_error(
                    "end", f"the window may be at most {settings.ANALYSIS_MAX_DAYS} days long."
                )
        return cleaned

    def params(self) -> ReportParams:
        data = self.cleaned_data
        return ReportParams(
            tz=data["tz"],
            interval=data["interval"],
            start=data["start"],
            end=data["end"],
            channel=data["channel"],
        )

    def error_list(self) -> list[tuple[str, str]]:
        return [(field, message) for field, messages in self.errors.items() for message in messages]


def resolve_window(
    params: ReportParams, *, first: datetime | None, last: datetime | None, step: timedelta
) -> tuple[datetime | None, datetime | None]:
    """The window to read: the one asked for, else the last ANALYSIS_DEFAULT_DAYS of data.

    A missing end is the end of the data; a missing start is the default span before the end,
    never before the first reading.
    """
    if last is None:
        return params.start, params.end
    end = params.end or last + step
    start = params.start
    if start is None:
        start = max(first or end, end - timedelta(days=settings.ANALYSIS_DEFAULT_DAYS))
        start = min(start, end - step)
    elif params.end is None and end <= start:
        end = start + timedelta(days=settings.ANALYSIS_DEFAULT_DAYS)
    if end - start > timedelta(days=settings.ANALYSIS_MAX_DAYS):
        end = start + timedelta(days=settings.ANALYSIS_MAX_DAYS)
    return start, end
