"""The API's views: parse parameters, call a selector, shape the answer. No queries here."""

from datetime import datetime
from itertools import chain
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import DataError
from django.db.models import QuerySet
from django.http import Http404
from django.urls import reverse
from django.utils.text import slugify
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from analysis.params import ProfileParamsForm
from analysis.reports import channel_profile, chosen_channel
from meters import rollups
from meters.api import schema
from meters.api.filters import ReadingAggregateFilter, ReadingFilter, ReadingListFilter
from meters.api.pagination import paginate
from meters.api.renderers import (
    BrowsableAPIRenderer,
    CSVRenderer,
    FastJSONRenderer,
    csv_response,
)
from meters.api.serializers import (
    AggregateSerializer,
    ReadingPageSerializer,
    UnitProfileSerializer,
    UnitSerializer,
    aggregate_data,
    decimal_text,
    profile_data,
    reading_page_data,
    with_bound_texts,
)
from meters.models import Channel
from meters.moments import format_utc
from meters.selectors import (
    Agg,
    Interval,
    aggregate_span,
    bucket_count,
    readings_aggregate,
    readings_with_channel,
    visible_channels,
    visible_readings,
    visible_units_with_channels,
)

READING_FIELDS = ["muid", "obis", "timestamp", "value", "quality", "measurement"]
BUCKET_FIELDS = ["muid", "obis", "start", "end", "value", "count", "expected", "pruned"]


PROFILE_DESCRIPTION = (
    "One energy channel of the unit (its first unless obis names another) over [start, end): the "
    "verdict on what it measures (kind, confidence, runner-up, the features and each kind's "
    "score), the load figures (peak per day and month with its time, base load, load factor, "
    "utilisation hours, annualised energy, load duration curve), the comparison with BDEW's 2025 "
    "standard load profiles H25, G25 and P25 scaled to its energy, and a day-ahead forecast "
    "backtest (MASE of seasonal naive against ETS), with the passport that sums them up. The "
    "analysis pages show the same figures. Without start, the window is the last "
    f"{settings.ANALYSIS_DEFAULT_DAYS} days of data; it may be at most "
    f"{settings.ANALYSIS_MAX_DAYS} days long."
)
PROFILE_PARAMETERS = [
    OpenApiParameter(
        "obis",
        OpenApiTypes.STR,
        OpenApiParameter.QUERY,
        description="The channel, as 12 hex digits (0100011D00FF) or readable "
        "(1-0:1.29.0*255, or 1-0:1.29.0). Empty: the unit's first energy channel. A channel "
        "that is not energy (a voltage, a current) is a 400.",
        examples=[
            OpenApiExample("The first channel", value=""),
            OpenApiExample("Export, readable", value="1-0:2.29.0*255"),
        ],
    ),
    OpenApiParameter(
        "start",
        OpenApiTypes.STR,
        OpenApiParameter.QUERY,
        description="Readings at or after this instant: ISO 8601 with a UTC offset, or a plain "
        f"date (midnight in tz). Empty: {settings.ANALYSIS_DEFAULT_DAYS} days before the end.",
        examples=[
            OpenApiExample("The default window", value=""),
            OpenApiExample("Local date", value="2023-02-06"),
        ],
    ),
    OpenApiParameter(
        "end",
        OpenApiTypes.STR,
        OpenApiParameter.QUERY,
        description="Readings before this instant (exclusive); same forms as start. Empty: to "
        "the last reading.",
        examples=[
            OpenApiExample("To the last reading", value=""),
            OpenApiExample("Local date", value="2023-02-20"),
        ],
    ),
    schema.TZ,
]


class UnitViewSet(viewsets.ReadOnlyModelViewSet):
    """Metering units with their OBIS channels and reading spans."""

    serializer_class = UnitSerializer
    lookup_field = "muid"
    pagination_class = None

    def get_queryset(self):
        return visible_units_with_channels(user=self.request.user)

    def get_object(self):
        try:
            return super().get_object()
        except Http404:
            raise NotFound("No unit with this muid.") from None

    # Operation ids in camelCase: Swagger UI's deep links read an underscore as an escaped
    # space and log a deprecation error. Generated clients snake-case them (units_list).
    @extend_schema(
        operation_id="unitsList",
        tags=["units"],
        summary="List the units",
        description="Every unit this user may read, with its channels; two queries whatever "
        "the number of units.",
        responses={(200, schema.JSON): UnitSerializer(many=True), **schema.ACCESS},
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(
        operation_id="unitsRetrieve",
        tags=["units"],
        summary="One unit",
        responses={
            (200, schema.JSON): UnitSerializer,
            (404, schema.JSON): schema.NOT_FOUND,
            **schema.ACCESS,
        },
    )
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        operation_id="unitsProfile",
        tags=["units"],
        summary="What a unit measures, and its load figures",
        description=PROFILE_DESCRIPTION,
        parameters=PROFILE_PARAMETERS,
        responses={
            (200, schema.JSON): UnitProfileSerializer,
            (404, schema.JSON): schema.NOT_FOUND,
            **schema.INVALID,
        },
    )
    @action(detail=True)
    def profile(self, request, muid=None):
        unit = self.get_object()
        form = ProfileParamsForm(request.query_params)
        if not form.is_valid():
            raise ValidationError({name: list(errors) for name, errors in form.errors.items()})
        params = form.params()
        try:
            channel = chosen_channel(unit, params.channel)
        except ValueError as error:
            raise ValidationError({"obis": [str(error)]}) from None
        if channel is None:
            raise NotFound("This unit has no energy channels.")
        window = channel_profile(channel=channel, params=params)
        return Response(profile_data(muid=unit.muid, obis=channel.obis, window=window))


READINGS_CSV_EXAMPLE = (
    "muid,obis,timestamp,value,quality,measurement\r\n"
    f"{schema.CONSUMER},0100011D00FF,2023-02-01T00:00:00Z,0.0117,measured,energy\r\n"
)
BUCKETS_CSV_EXAMPLE = (
    "muid,obis,start,end,value,count,expected,pruned\r\n"
    f"{schema.CONSUMER},0100011D00FF,2023-02-01T00:00:00+01:00,"
    "2023-02-02T00:00:00+01:00,3.5731,96,96,false\r\n"
)
AGGREGATE_EXAMPLE = OpenApiExample(
    "Daily energy",
    value={
        "interval": "day",
        "agg": "sum",
        "tz": "Europe/Zurich",
        "start": "2023-03-26T00:00:00+01:00",
        "end": "2023-03-27T00:00:00+02:00",
        "buckets": [
            {
                "muid": schema.CONSUMER,
                "obis": "0100011D00FF",
                "start": "2023-03-26T00:00:00+01:00",
                "end": "2023-03-27T00:00:00+02:00",
                "value": "3.1415",
                "unit": "kWh",
                "count": 92,
                "expected": 92,
                "pruned": False,
            }
        ],
    },
)
AGGREGATE_DESCRIPTION = (
    "The database groups the filtered readings of each channel into buckets of interval in the "
    "local calendar of tz and aggregates them with agg. Buckets without readings are left out; "
    "count < expected marks a gap or a bucket cut by start/end. Where 15-minute readings were "
    "deleted by retention (prune_readings), hour and longer buckets come from the rollups kept "
    "of them and say pruned: true."
)


def check_bucket_limit(
    start: datetime | None, end: datetime | None, *, interval: Interval, tz: ZoneInfo
) -> None:
    """400 on interval when [start, end) spans more buckets than API_MAX_BUCKETS (nothing to
    check while a bound is unknown)."""
    if start is None or end is None:
        return
    count = bucket_count(start, end, interval=interval, tz=tz)
    if count > settings.API_MAX_BUCKETS:
        raise ValidationError(
            {
                "interval": [
                    f"[start, end) spans {count} {interval} buckets, more than the "
                    f"limit of {settings.API_MAX_BUCKETS}: narrow the range or choose a "
                    "longer interval."
                ]
            }
        )


class CSVOrJSON:
    """For viewsets that answer JSON or, asked for (format=csv, Accept: text/csv), CSV: the
    view tells which was chosen, and an error is JSON either way."""

    @staticmethod
    def _csv(request) -> bool:
        return request.accepted_renderer.format == CSVRenderer.format

    def finalize_response(self, request, response, *args, **kwargs):
        # An error asked for as CSV is still a JSON body a client can read.
        renderer = getattr(request, "accepted_renderer", None)
        csv_error = renderer is not None and renderer.format == CSVRenderer.format
        if csv_error and isinstance(response, Response) and response.status_code >= 400:
            request.accepted_renderer = FastJSONRenderer()
            request.accepted_media_type = FastJSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


class ReadingViewSet(CSVOrJSON, viewsets.ViewSet):
    """Readings, filtered, as pages or CSV; and aggregated into buckets by the database.

    JSON and CSV are separate operations (readings/ and readings/csv/, readings/aggregate/ and
    readings/aggregate/csv/), each with one media type, so that a generated client can type
    its answer. `format=csv` and `Accept: text/csv` on the JSON operations still answer CSV
    for the clients written before the split; the schema no longer offers them.
    """

    renderer_classes = [FastJSONRenderer, BrowsableAPIRenderer, CSVRenderer]

    @extend_schema(
        operation_id="readingsList",
        tags=["readings"],
        summary="List readings",
        description="Filtered readings, one page at a time (cursor pagination, stable under "
        "inserts). All of them as one CSV: readings/csv/.",
        parameters=[
            *schema.READING_FILTERS,
            schema.ORDERING,
            schema.PAGE_SIZE,
            schema.CURSOR,
            schema.NO_FORMAT,
        ],
        responses={(200, schema.JSON): ReadingPageSerializer, **schema.INVALID},
    )
    def list(self, request):
        if self._csv(request):
            return self._readings_csv()
        readings, params = self._filtered(ReadingListFilter)
        readings = readings_with_channel(readings)
        descending = params["ordering"] == "-timestamp"
        page = paginate(readings, request, descending=descending, fields=READING_FIELDS)
        return Response(reading_page_data(page))

    @extend_schema(
        operation_id="readingsCsv",
        tags=["readings"],
        summary="Export readings as CSV",
        description="Every matching reading as CSV, streamed (no pagination). More than "
        f"{settings.API_CSV_MAX_ROWS} matching readings is a 400 on format: narrow the range.",
        parameters=[*schema.READING_FILTERS, schema.ORDERING],
        responses={
            **schema.csv_response("Every matching reading, streamed.", READINGS_CSV_EXAMPLE),
            **schema.INVALID,
        },
    )
    @action(detail=False, url_path="csv", url_name="csv", renderer_classes=[CSVRenderer])
    def readings_csv(self, request):
        return self._readings_csv()

    @extend_schema(
        operation_id="readingsAggregate",
        tags=["readings"],
        summary="Aggregate readings into time buckets",
        description=f"{AGGREGATE_DESCRIPTION} The same as CSV: readings/aggregate/csv/.",
        parameters=[*schema.READING_FILTERS, schema.INTERVAL, schema.AGG, schema.NO_FORMAT],
        responses={
            (200, schema.JSON): OpenApiResponse(AggregateSerializer, examples=[AGGREGATE_EXAMPLE]),
            **schema.INVALID,
        },
    )
    @action(detail=False)
    def aggregate(self, request):
        if self._csv(request):
            return self._aggregate_csv()
        interval, agg, tz, params, buckets = self._buckets()
        answer = aggregate_data(
            interval=interval,
            agg=agg,
            tz=tz,
            start=params["start"],
            end=params["end"],
            buckets=buckets,
        )
        return Response(answer)

    @extend_schema(
        operation_id="readingsAggregateCsv",
        tags=["readings"],
        summary="Export aggregated buckets as CSV",
        description=AGGREGATE_DESCRIPTION,
        parameters=[*schema.READING_FILTERS, schema.INTERVAL, schema.AGG],
        responses={
            **schema.csv_response("The buckets, streamed.", BUCKETS_CSV_EXAMPLE),
            **schema.INVALID,
        },
    )
    @action(
        detail=False,
        url_path="aggregate/csv",
        url_name="aggregate-csv",
        renderer_classes=[CSVRenderer],
    )
    def aggregate_csv(self, request):
        return self._aggregate_csv()

    def _readings_csv(self):
        readings, params = self._filtered(ReadingListFilter)
        readings = readings_with_channel(readings)
        descending = params["ordering"] == "-timestamp"
        order = ["-timestamp", "-channel_id"] if descending else ["timestamp", "channel_id"]
        self._check_csv_limit(readings)
        rows = readings.order_by(*order).values_list(*READING_FIELDS)
        return csv_response(
            filename="readings.csv",
            header=READING_FIELDS,
            rows=(
                (muid, obis, format_utc(timestamp), decimal_text(value), quality, kind)
                for muid, obis, timestamp, value, quality, kind in rows.iterator(2000)
            ),
        )

    def _aggregate_csv(self):
        interval, agg, tz, _params, buckets = self._buckets()
        return csv_response(
            filename=f"readings-{interval}-{agg}-{slugify(str(tz))}.csv",
            header=BUCKET_FIELDS,
            rows=(
                (
                    b.muid,
                    b.obis,
                    start,
                    end,
                    decimal_text(b.value),
                    b.count,
                    b.expected,
                    "true" if b.pruned else "false",
                )
                for b, start, end in with_bound_texts(buckets)
            ),
        )

    def _buckets(self):
        """The validated parameters and an iterator of the buckets, its query already run."""
        params = self._valid(ReadingAggregateFilter).form.cleaned_data
        interval, agg, tz = Interval(params["interval"]), Agg(params["agg"]), params["tz"]
        channels = visible_channels(
            user=self.request.user, muids=params["muid"], obis=params["obis"]
        )
        state = rollups.state()
        self._check_bucket_limit(params, interval, channels=channels, state=state)
        buckets = readings_aggregate(
            channels=channels,
            start=params["start"],
            end=params["end"],
            qualities=params["quality"],
            interval=interval,
            agg=agg,
            tz=tz,
            state=state,
        )
        try:
            # The query runs on the first bucket: a zone the database lacks fails here, not
            # halfway through a streamed response.
            first = next(buckets, None)
        except DataError:
            raise ValidationError(
                {"tz": ["This time zone is not known to the database."]}
            ) from None
        return interval, agg, tz, params, chain([first], buckets) if first else iter(())

    def _filtered(self, filter_class: type[ReadingFilter]):
        """The visible readings the parameters select, and the parameters."""
        filterset = self._valid(filter_class, visible_readings(user=self.request.user))
        return filterset.qs, filterset.form.cleaned_data

    def _valid(self, filter_class: type[ReadingFilter], readings=None) -> ReadingFilter:
        """The parameters checked: a 400 naming each bad one. The readings they select are
        built only when asked for (an aggregate selects channels instead)."""
        filterset = filter_class(self.request.query_params, queryset=readings)
        if not filterset.is_valid():
            # Not django-filter's translate_validation: it %-formats each message again, and a
            # message that quotes a client's "%" would then fail.
            raise ValidationError({name: list(errors) for name, errors in filterset.errors.items()})
        return filterset

    @staticmethod
    def _check_bucket_limit(
        params, interval: Interval, *, channels: QuerySet[Channel], state: rollups.State
    ) -> None:
        """400 when [start, end) spans more buckets than API_MAX_BUCKETS.

        An open end is taken from what the aggregate of the selected channels can find.
        """
        start, end = params["start"], params["end"]
        if start is None or end is None:
            first, last = aggregate_span(channels, state=state)
            start, end = start or first, end or last
        check_bucket_limit(start, end, interval=interval, tz=params["tz"])

    @staticmethod
    def _check_csv_limit(readings) -> None:
        """400 when more than API_CSV_MAX_ROWS readings match, before anything is streamed.

        One query that stops at the first reading past the limit (read from the index).
        """
        limit = settings.API_CSV_MAX_ROWS
        if readings.order_by()[limit : limit + 1].exists():
            raise ValidationError(
                {
                    "format": [
                        f"More than {limit} readings match, the most one CSV export holds: "
                        "narrow start/end or muid, or page through the JSON."
                    ]
                }
            )


# Set here rather than in the class body, where the name would hide the schema module from the
# decorators.
ReadingViewSet.schema = schema.PageSchema()


class ApiRootView(APIView):
    """The index of version 1: a link to every endpoint, the schema and the docs.

    Public, as the schema is: it names endpoints, not data.
    """

    permission_classes = [AllowAny]
    renderer_classes = [FastJSONRenderer, BrowsableAPIRenderer]

    @extend_schema(exclude=True)
    def get(self, request, format=None):
        def url(name: str) -> str:
            return request.build_absolute_uri(reverse(name))

        return Response(
            {
                "units": url("unit-list"),
                "unit": url("unit-list") + "{muid}/",
                "unit_profile": url("unit-list") + "{muid}/profile/",
                "readings": url("reading-list"),
                "readings_csv": url("reading-csv"),
                "aggregate": url("reading-aggregate"),
                "aggregate_csv": url("reading-aggregate-csv"),
                "communities": url("community-list"),
                "community": url("community-list") + "{id}/",
                "community_balance": url("community-list") + "{id}/balance/",
                "community_balance_csv": url("community-list") + "{id}/balance/csv/",
                "members_balance": url("community-list") + "{id}/members/balance/",
                "members_balance_csv": url("community-list") + "{id}/members/balance/csv/",
                "schema": url("schema"),
                "docs": url("swagger-ui"),
                "redoc": url("redoc"),
            }
        )
