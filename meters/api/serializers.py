"""Response shapes. Values are exact decimal text; instants are ISO 8601 with an offset.

Readings and buckets, up to thousands per response, are written as plain dicts by
reading_page_data and aggregate_data: DRF's field-by-field serialization takes ~10 µs a bucket,
five times as long, more than the query for an hourly month. The serializers below document the
shape in the OpenAPI schema, and tests require both to give the same answer.
"""

from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from analysis.reports import units_of
from meters.api.pagination import Page
from meters.models import Channel, Unit
from meters.moments import format_utc
from meters.obis import Measure, decode
from meters.selectors import Agg, Bucket, Interval


def decimal_text(value: Decimal | int) -> str:
    """`0.0117` from the stored Decimal('0.011700'): exact, without the scale's trailing zeros."""
    if isinstance(value, int):
        return str(value)
    text = format(value.normalize(), "f")
    return "0" if text == "-0" else text


@extend_schema_field({"type": "string", "format": "decimal", "example": "0.0117"})
class DecimalTextField(serializers.Field):
    def to_representation(self, value):
        return decimal_text(value)


@extend_schema_field({"type": "string", "format": "date-time", "example": "2023-02-01T00:00:00Z"})
class UTCDateTimeField(serializers.Field):
    """An instant in UTC, written with Z as the source writes it."""

    def to_representation(self, value):
        return format_utc(value)


@extend_schema_field(
    {"type": "string", "format": "date-time", "example": "2023-02-01T00:00:00+01:00"}
)
class LocalDateTimeField(serializers.Field):
    """An instant with the UTC offset of the zone it was computed in."""

    def to_representation(self, value):
        return value.isoformat()


class ChannelSerializer(serializers.ModelSerializer):
    code = serializers.CharField(source="decoded.code", help_text="Readable OBIS code.")
    description = serializers.CharField(source="decoded.description")
    direction = serializers.ChoiceField(
        source="decoded.direction",
        choices=["import", "export"],
        allow_null=True,
        help_text="Energy drawn from the grid (import) or fed into it (export).",
    )
    unit = serializers.CharField(
        source="decoded.unit_of_measure",
        allow_null=True,
        help_text="Unit of measure of the values, e.g. kWh.",
    )
    first_reading_at = UTCDateTimeField(allow_null=True)
    last_reading_at = UTCDateTimeField(allow_null=True, help_text="Start of the last interval.")

    class Meta:
        model = Channel
        fields = [
            "obis",
            "code",
            "description",
            "direction",
            "unit",
            "first_reading_at",
            "last_reading_at",
            "reading_count",
        ]
        # Read-only: an answer always holds every field, so the schema marks each required
        # (a model default would otherwise make reading_count optional).
        read_only_fields = fields
        extra_kwargs = {"obis": {"help_text": "OBIS code as 12 hex digits, as the feed sends it."}}


class UnitSerializer(serializers.ModelSerializer):
    """A unit, its channels, and its span over all channels (from the prefetched channels)."""

    first_reading_at = serializers.SerializerMethodField()
    last_reading_at = serializers.SerializerMethodField()
    reading_count = serializers.SerializerMethodField()
    channels = ChannelSerializer(many=True, read_only=True)

    class Meta:
        model = Unit
        fields = ["muid", "first_reading_at", "last_reading_at", "reading_count", "channels"]

    @extend_schema_field(UTCDateTimeField(allow_null=True))
    def get_first_reading_at(self, unit: Unit) -> str | None:
        moments = [c.first_reading_at for c in unit.channels.all() if c.first_reading_at]
        return format_utc(min(moments)) if moments else None

    @extend_schema_field(UTCDateTimeField(allow_null=True))
    def get_last_reading_at(self, unit: Unit) -> str | None:
        moments = [c.last_reading_at for c in unit.channels.all() if c.last_reading_at]
        return format_utc(max(moments)) if moments else None

    def get_reading_count(self, unit: Unit) -> int:
        return sum(channel.reading_count for channel in unit.channels.all())


class ReadingSerializer(serializers.Serializer):
    muid = serializers.UUIDField()
    obis = serializers.CharField(help_text="OBIS code as 12 hex digits.")
    timestamp = UTCDateTimeField(help_text="Start of the 15-minute interval, in UTC.")
    value = DecimalTextField(help_text="Energy in the interval (kWh for the known energy codes).")
    quality = serializers.CharField(help_text="As sent by the source, e.g. measured.")
    measurement = serializers.CharField(help_text="As sent by the source, e.g. energy.")


class ReadingPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True, help_text="The next page; null on the last.")
    previous = serializers.URLField(
        allow_null=True, help_text="The previous page; null on the first."
    )
    results = ReadingSerializer(many=True)


def reading_page_data(page: Page) -> dict:
    """What ReadingPageSerializer gives for `page` (rows as dicts of ReadingSerializer's fields)."""
    return {
        "next": page.next,
        "previous": page.previous,
        "results": [
            {
                "muid": row["muid"],
                "obis": row["obis"],
                "timestamp": format_utc(row["timestamp"]),
                "value": decimal_text(row["value"]),
                "quality": row["quality"],
                "measurement": row["measurement"],
            }
            for row in page.results
        ],
    }


class BucketSerializer(serializers.Serializer):
    muid = serializers.UUIDField()
    obis = serializers.CharField(help_text="OBIS code as 12 hex digits.")
    start = LocalDateTimeField(help_text="Start of the bucket, with the offset of tz.")
    end = LocalDateTimeField(help_text="End of the bucket (exclusive), with the offset of tz.")
    value = DecimalTextField(help_text="The agg of the readings' values (for count: readings).")
    unit = serializers.SerializerMethodField(help_text="Unit of measure of value.")
    count = serializers.IntegerField(help_text="Readings in the bucket.")
    expected = serializers.IntegerField(
        help_text="Readings a complete bucket holds: 96 a day, 92 or 100 across a DST change."
    )
    pruned = serializers.BooleanField(
        help_text="The bucket's 15-minute readings were (in part) deleted by retention: value and "
        "count come from the hourly or daily rollups kept of them (exact, for hour and longer "
        "intervals in a zone the rollups serve; otherwise only what is left is counted)."
    )

    def get_unit(self, bucket: Bucket) -> str | None:
        return bucket_unit(bucket.obis, agg=Agg(self.context.get("agg", Agg.SUM)))


class AggregateSerializer(serializers.Serializer):
    interval = serializers.ChoiceField(
        choices=[interval.value for interval in Interval], help_text="The interval asked for."
    )
    agg = serializers.ChoiceField(
        choices=[agg.value for agg in Agg], help_text="The aggregate asked for."
    )
    tz = serializers.CharField(help_text="The zone whose calendar the buckets follow.")
    start = LocalDateTimeField(allow_null=True, help_text="The start parameter, as understood.")
    end = LocalDateTimeField(allow_null=True, help_text="The end parameter, as understood.")
    buckets = BucketSerializer(many=True)


def bucket_unit(obis: str, *, agg: Agg) -> str | None:
    """The unit of measure of a bucket's value: the channel's, or readings for count."""
    return "readings" if agg is Agg.COUNT else decode(obis).unit_of_measure


def with_bound_texts(buckets: Iterable[Bucket]) -> Iterator[tuple[Bucket, str, str]]:
    """Each bucket with its start and end in ISO 8601.

    Formatting an instant in a zone is the costliest step of writing a bucket, and the buckets
    of every channel share their bounds (bucket_bounds gives each bound once, as one object):
    each object is formatted once. By identity, not equality: Python finds the two 02:30 of
    the night DST ends equal (same zone, same wall time), though they are an hour apart and
    written with different offsets; each text is kept with its object, so no id is reused.
    """
    texts: dict[int, tuple[datetime, str]] = {}
    for bucket in buckets:
        start, end = texts.get(id(bucket.start)), texts.get(id(bucket.end))
        if start is None:
            start = texts[id(bucket.start)] = (bucket.start, bucket.start.isoformat())
        if end is None:
            end = texts[id(bucket.end)] = (bucket.end, bucket.end.isoformat())
        yield bucket, start[1], end[1]


def aggregate_data(
    *,
    interval: Interval,
    agg: Agg,
    tz: ZoneInfo,
    start: datetime | None,
    end: datetime | None,
    buckets: Iterable[Bucket],
) -> dict:
    """What AggregateSerializer gives for an answer of `buckets`."""
    # Each channel's unit once, not once per bucket.
    units: dict[str, str | None] = {}
    rows = []
    for bucket, start_text, end_text in with_bound_texts(buckets):
        if bucket.obis not in units:
            units[bucket.obis] = bucket_unit(bucket.obis, agg=agg)
        rows.append(
            {
                "muid": bucket.muid,
                "obis": bucket.obis,
                "start": start_text,
                "end": end_text,
                "value": decimal_text(bucket.value),
                "unit": units[bucket.obis],
                "count": bucket.count,
                "expected": bucket.expected,
                "pruned": bucket.pruned,
            }
        )
    return {
        "interval": str(interval),
        "agg": str(agg),
        "tz": str(tz),
        "start": start and start.astimezone(tz).isoformat(),
        "end": end and end.astimezone(tz).isoformat(),
        "buckets": rows,
    }


# --- A unit's profile (analysis.profile) -----------------------------------------------------

# Points of the load duration curve in an answer: the power at each percent of the hours.
DURATION_POINTS = 101


# Places a figure keeps in JSON: the stored scale (1 mWh), without float noise such as
# 97.60820000000001.
FIGURE_PLACES = 6


def _number(value) -> float | None:
    """A float for JSON, rounded to FIGURE_PLACES: None for NaN (a figure the data cannot give)
    and for None."""
    if value is None or value != value:
        return None
    return round(float(value), FIGURE_PLACES)


def _local(moment) -> str | None:
    return moment.isoformat() if moment is not None else None


class PassportSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="The verdict's kind, e.g. pv, household, ev.")
    headline = serializers.CharField(help_text="The verdict in words, with its confidence.")
    confidence = serializers.FloatField(help_text="Its score less the runner-up's, 0 to 1.")
    confidence_word = serializers.ChoiceField(choices=["high", "medium", "low", "none"])
    runner_up = serializers.CharField(allow_null=True, help_text="The close runner-up's kind.")
    completeness = serializers.FloatField(help_text="Share of the window's readings present.")
    energy_kwh = serializers.FloatField(allow_null=True)
    annual_energy_kwh = serializers.FloatField(allow_null=True)
    peak_kw = serializers.FloatField(allow_null=True)
    peak_at = LocalDateTimeField(allow_null=True, help_text="Start of the peak interval.")
    base_load_kw = serializers.FloatField(allow_null=True)
    best_profile = serializers.CharField(allow_null=True, help_text="H25, G25 or P25.")
    forecastability = serializers.CharField()


class FeatureSerializer(serializers.Serializer):
    name = serializers.CharField()
    value = serializers.FloatField(allow_null=True)
    measures = serializers.CharField()
    reason = serializers.CharField(help_text="Why the feature tells kinds apart.")


class VerdictSerializer(serializers.Serializer):
    kind = serializers.CharField()
    label = serializers.CharField()
    headline = serializers.CharField()
    confidence = serializers.FloatField()
    runner_up = serializers.CharField(allow_null=True)
    missing = serializers.CharField(help_text="What the data lacks, when undetermined.")
    features = FeatureSerializer(many=True)
    scores = serializers.DictField(child=serializers.FloatField(), help_text="Kind -> score.")


class PeakSerializer(serializers.Serializer):
    period = serializers.CharField(help_text="Local date (YYYY-MM-DD) or month (YYYY-MM).")
    peak_kw = serializers.FloatField()
    at = LocalDateTimeField(help_text="Start of the peak interval.")


class DurationPointSerializer(serializers.Serializer):
    hours = serializers.FloatField(help_text="Hours at or above the power.")
    kw = serializers.FloatField()


class LoadSerializer(serializers.Serializer):
    energy_kwh = serializers.FloatField()
    mean_kw = serializers.FloatField()
    peak_kw = serializers.FloatField()
    peak_at = LocalDateTimeField()
    base_load_kw = serializers.FloatField(help_text="Median of each whole day's lowest power.")
    load_factor = serializers.FloatField(allow_null=True, help_text="Mean power / peak power.")
    utilisation_hours = serializers.FloatField(allow_null=True)
    annual_energy_kwh = serializers.FloatField(help_text="Mean power times 8760 h.")
    daily_peaks = PeakSerializer(many=True)
    monthly_peaks = PeakSerializer(many=True)
    duration_curve = DurationPointSerializer(
        many=True, help_text=f"The load duration curve at {DURATION_POINTS} points."
    )


class ProfileFitSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    correlation = serializers.FloatField(allow_null=True, help_text="Of the means by time of day.")
    error = serializers.FloatField(allow_null=True, help_text="sum |unit - profile| / sum unit.")


class StandardProfilesSerializer(serializers.Serializer):
    best = serializers.CharField(allow_null=True)
    fits = ProfileFitSerializer(many=True)


class ForecastSerializer(serializers.Serializer):
    origins = serializers.IntegerField(help_text="Day-ahead forecasts backtested.")
    mase = serializers.DictField(child=serializers.FloatField(), help_text="Method -> MASE.")
    best = serializers.CharField(allow_null=True)
    model_beats_naive = serializers.BooleanField()
    sentence = serializers.CharField()


class UnitProfileSerializer(serializers.Serializer):
    muid = serializers.UUIDField()
    obis = serializers.CharField(help_text="The channel profiled, as 12 hex digits.")
    measure = serializers.ChoiceField(
        choices=[measure.value for measure in Measure],
        help_text="What the channel's readings are, by the OBIS code's D group. The profile "
        "reads the energy of each interval from them: a register's rise from one reading to "
        "the next, power times the interval's length.",
    )
    energy_unit = serializers.CharField(
        help_text="The unit of every energy figure below, whatever its name says: kWh for active "
        "energy, kvarh for reactive, kVAh for apparent (the OBIS code's C group)."
    )
    power_unit = serializers.CharField(
        help_text="The unit of every power figure below (the *_kw fields): kW, kvar or kVA."
    )
    tz = serializers.CharField()
    start = LocalDateTimeField(allow_null=True, help_text="The window's start, as resolved.")
    end = LocalDateTimeField(allow_null=True, help_text="The window's end (exclusive).")
    passport = PassportSerializer()
    verdict = VerdictSerializer()
    load = LoadSerializer(allow_null=True)
    standard_profiles = StandardProfilesSerializer(allow_null=True)
    forecast = ForecastSerializer(allow_null=True)


def _peaks(frame, *, month: bool) -> list[dict]:
    return [
        {
            "period": period.strftime("%Y-%m" if month else "%Y-%m-%d"),
            "peak_kw": _number(peak),
            "at": at.isoformat(),
        }
        for period, peak, at in frame[["peak", "at"]].itertuples()
    ]


def profile_data(*, muid, obis: str, window) -> dict:
    """What UnitProfileSerializer gives for an analysis.reports.WindowProfile."""
    profile = window.profile
    passport, verdict, figures = profile.passport, profile.verdict, profile.load
    load = None
    if figures is not None:
        duration = figures.duration
        picks = sorted(
            {round(i * (len(duration) - 1) / (DURATION_POINTS - 1)) for i in range(DURATION_POINTS)}
        )
        load = {
            "energy_kwh": _number(figures.energy),
            "mean_kw": _number(figures.mean_power),
            "peak_kw": _number(figures.peak_power),
            "peak_at": figures.peak_at.isoformat(),
            "base_load_kw": _number(figures.base_load),
            "load_factor": _number(figures.load_factor),
            "utilisation_hours": _number(figures.utilisation_hours),
            "annual_energy_kwh": _number(figures.annual_energy),
            "daily_peaks": _peaks(figures.daily_peaks, month=False),
            "monthly_peaks": _peaks(figures.monthly_peaks, month=True),
            "duration_curve": [
                {"hours": _number(duration.index[i]), "kw": _number(duration.iloc[i])}
                for i in picks
            ],
        }
    standard = None
    if profile.standard is not None:
        best = profile.standard.best
        standard = {
            "best": best.name if best else None,
            "fits": [
                {
                    "name": fit.name,
                    "description": fit.description,
                    "correlation": _number(fit.correlation),
                    "error": _number(fit.error),
                }
                for fit in profile.standard.fits
            ],
        }
    test = profile.backtest
    code = decode(obis)
    energy_unit, power_unit = units_of(code)
    return {
        "muid": str(muid),
        "obis": obis,
        "measure": code.measure.value,
        "energy_unit": energy_unit,
        "power_unit": power_unit,
        "tz": str(window.tz),
        "start": _local(window.start and window.start.astimezone(window.tz)),
        "end": _local(window.end and window.end.astimezone(window.tz)),
        "passport": {
            "kind": passport.kind,
            "headline": passport.headline,
            "confidence": passport.confidence,
            "confidence_word": passport.confidence_word,
            "runner_up": passport.runner_up,
            "completeness": passport.completeness,
            "energy_kwh": _number(passport.energy),
            "annual_energy_kwh": _number(passport.annual_energy),
            "peak_kw": _number(passport.peak_power),
            "peak_at": _local(passport.peak_at),
            "base_load_kw": _number(passport.base_load),
            "best_profile": passport.best_profile,
            "forecastability": passport.forecastability,
        },
        "verdict": {
            "kind": verdict.kind.value,
            "label": verdict.kind.label,
            "headline": verdict.headline,
            "confidence": verdict.confidence,
            "runner_up": verdict.runner_up.value if verdict.runner_up else None,
            "missing": verdict.missing,
            "features": [
                {
                    "name": f.name,
                    "value": _number(f.value),
                    "measures": f.measures,
                    "reason": f.reason,
                }
                for f in verdict.features
            ],
            "scores": {kind.value: score for kind, score in verdict.scores.items()},
        },
        "load": load,
        "standard_profiles": standard,
        "forecast": test
        and {
            "origins": test.origins,
            "mase": {method: _number(value) for method, value in test.mase.items()},
            "best": test.best,
            "model_beats_naive": test.model_beats_naive,
            "sentence": test.sentence,
        },
    }
