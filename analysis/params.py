"""The query parameters of the analysis pages, validated before any query is made."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings

from analysis.stats import INTERVALS
from meters.params import IntervalField, ObisField, RangeForm


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


def limit_window(form: RangeForm, cleaned: dict) -> None:
    """An error on `end` when [start, end) is longer than ANALYSIS_MAX_DAYS."""
    start, end = cleaned.get("start"), cleaned.get("end")
    if start and end and end - start > timedelta(days=settings.ANALYSIS_MAX_DAYS):
        form.add_error("end", f"The window may be at most {settings.ANALYSIS_MAX_DAYS} days long.")


class ReportParamsForm(RangeForm):
    """The range, zone, interval and OBIS rules the API applies too (meters/params.py), plus the
    pages' own limit on the length of a window."""

    default_zone = "ANALYSIS_TIME_ZONE"

    # The groupings a report draws (analysis.stats.INTERVALS); the API also offers months.
    interval = IntervalField(intervals=INTERVALS, required=False)
    channel = ObisField(required=False, help_text="OBIS code, e.g. 0100011D00FF or 1-0:1.29.0*255.")

    def clean(self) -> dict:
        cleaned = super().clean()
        if not cleaned.get("interval") and "interval" not in self.errors:
            cleaned["interval"] = settings.ANALYSIS_DEFAULT_INTERVAL
        limit_window(self, cleaned)
        return cleaned

    def params(self) -> ReportParams:
        data = self.cleaned_data
        return ReportParams(
            tz=data["tz"],
            interval=str(data["interval"]),
            start=data["start"],
            end=data["end"],
            channel=data["channel"],
        )


class ProfileParamsForm(RangeForm):
    """The API's units/{muid}/profile/: the aggregates' range and zone (and their default
    zone), one OBIS code choosing the channel, and the pages' limit on a window's length."""

    obis = ObisField(required=False, help_text="OBIS code, e.g. 0100011D00FF or 1-0:1.29.0*255.")

    def clean(self) -> dict:
        cleaned = super().clean()
        limit_window(self, cleaned)
        return cleaned

    def params(self) -> ReportParams:
        data = self.cleaned_data
        return ReportParams(
            tz=data["tz"],
            interval=settings.ANALYSIS_DEFAULT_INTERVAL,
            start=data["start"],
            end=data["end"],
            channel=data["obis"],
        )


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
