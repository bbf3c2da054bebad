"""OpenAPI descriptions and examples of the query parameters and error responses.

Swagger UI's "Try it out" fills each parameter with its first example: the first example of
every optional filter is empty (no filter), so the first click on an operation answers JSON
for everything the user may read. The other examples stay a click away in the list.
"""

from django.conf import settings
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from meters.selectors import Agg, Interval

CONSUMER = "95ce3367-cbce-4a4d-bbe3-da082831d7bd"
PRODUCER = "1db7649e-9342-4e04-97c7-f0ebb88ed1f8"


# Media types. Errors are always JSON, whatever was asked for (meters.api.views).
JSON = "application/json"
CSV = "text/csv"
# A muid as a pattern rather than `format: uuid`: Swagger UI has no input for an array of
# uuids and logs "Could not find component: JsonSchema_string_uuid" on every page view.
UUID_PATTERN = "^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
# The first example of an optional filter: leave it out.
NO_FILTER = "No filter"


def _query(name: str, kind, description: str, examples: dict, **kwargs) -> OpenApiParameter:
    return OpenApiParameter(
        name,
        kind,
        OpenApiParameter.QUERY,
        description=description,
        examples=[OpenApiExample(title, value=value) for title, value in examples.items()],
        **kwargs,
    )


MUID = _query(
    "muid",
    {"type": "array", "items": {"type": "string", "pattern": UUID_PATTERN}},
    "Only these metering units (UUIDs). Repeat the parameter or separate muids with commas. "
    "Empty: every unit you may read. A muid that is not held gives no readings (not an error).",
    {NO_FILTER: [], "One unit": [CONSUMER], "Two units side by side": [CONSUMER, PRODUCER]},
)
OBIS = _query(
    "obis",
    OpenApiTypes.STR,
    "Only these OBIS codes, as 12 hex digits (0100011D00FF) or readable (1-0:1.29.0*255, "
    "or 1-0:1.29.0 for the same). "
    "Repeat the parameter or separate codes with commas. Empty: every channel.",
    {NO_FILTER: [], "Import, hex": ["0100011D00FF"], "Export, readable": ["1-0:2.29.0*255"]},
    many=True,
)
QUALITY = _query(
    "quality",
    OpenApiTypes.STR,
    "Only readings of these qualities, as sent by the source. Repeat or separate with commas. "
    "Empty: every quality.",
    {NO_FILTER: [], "Measured": ["measured"]},
    many=True,
)
START = _query(
    "start",
    OpenApiTypes.STR,
    "Readings at or after this instant (inclusive): ISO 8601 with a UTC offset (Z or +01:00), "
    "or a plain date, meaning midnight at the start of that day in tz. Empty: from the first "
    "reading.",
    {
        "From the first reading": "",
        "Local date": "2023-02-01",
        "Instant with offset": "2023-02-01T00:00:00+01:00",
        "Instant in UTC": "2023-01-31T23:00:00Z",
    },
)
END = _query(
    "end",
    OpenApiTypes.STR,
    "Readings before this instant (exclusive); same forms as start, and later than start. "
    "Empty: to the last reading.",
    {
        "To the last reading": "",
        "Local date": "2023-03-01",
        "Instant with offset": "2023-03-01T00:00:00+01:00",
    },
)
TZ = _query(
    "tz",
    OpenApiTypes.STR,
    f"IANA time zone whose calendar plain dates and buckets follow (default {settings.TIME_ZONE}).",
    {"Zurich": "Europe/Zurich", "UTC": "UTC"},
    default=settings.TIME_ZONE,
)
ORDERING = _query(
    "ordering",
    OpenApiTypes.STR,
    "timestamp: oldest first (default); -timestamp: newest first.",
    {"Oldest first": "timestamp", "Newest first": "-timestamp"},
    enum=["timestamp", "-timestamp"],
    default="timestamp",
)
PAGE_SIZE = _query(
    "page_size",
    OpenApiTypes.INT,
    f"Readings per page, 1 to {settings.API_MAX_PAGE_SIZE} (default {settings.API_PAGE_SIZE}); "
    "more is a 400.",
    {"One day of one channel": 96, "The largest page": settings.API_MAX_PAGE_SIZE},
)
CURSOR = _query(
    "cursor",
    OpenApiTypes.STR,
    "Opaque position from the next or previous link of a page; do not build it yourself.",
    {"The first page": "", "From a next link": "MjAyMy0wMi0wMVQyMzo0NTowMFp8MXww"},
)
INTERVAL = _query(
    "interval",
    OpenApiTypes.STR,
    "Bucket length. day, week (from Monday) and month follow the local calendar of tz, so a "
    "day is 23 or 25 hours long across a DST change. At most "
    f"{settings.API_MAX_BUCKETS} buckets per series in [start, end).",
    {"Daily": "day", "Hourly": "hour", "Quarter hours": "15min", "Monthly": "month"},
    enum=[interval.value for interval in Interval],
    required=True,
    # Not a default of the API (interval is required): Swagger UI selects it in the list,
    # which would otherwise start at the first value, 15min.
    default=Interval.DAY.value,
)
AGG = _query(
    "agg",
    OpenApiTypes.STR,
    "How the readings of a bucket combine: sum (default, energy in the bucket), avg (mean "
    "energy per 15-minute reading), min, max, or count (readings).",
    {"Energy per bucket": "sum", "Peak quarter hour": "max"},
    enum=[agg.value for agg in Agg],
    default=Agg.SUM.value,
)

# drf-spectacular offers `format` (json, csv) on an operation with both renderers: the JSON
# operations keep answering format=csv for the clients written before the CSV operations were
# split off, but no longer offer it (Swagger UI prefilled it, and a generated client typed
# the CSV as JSON).
NO_FORMAT = OpenApiParameter("format", OpenApiTypes.STR, OpenApiParameter.QUERY, exclude=True)

READING_FILTERS = [MUID, OBIS, QUALITY, START, END, TZ]


class ErrorSerializer(serializers.Serializer):
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Reasons by the query parameter at fault; 'detail' for the request as a whole.",
    )


def _error(status: int, description: str, title: str, errors: dict) -> OpenApiResponse:
    example = OpenApiExample(title, value={"errors": errors}, status_codes=[str(status)])
    return OpenApiResponse(ErrorSerializer, description=description, examples=[example])


BAD_REQUEST = _error(
    400,
    "A query parameter is invalid; errors names it and says why.",
    "End before start",
    {"end": ["Must be later than start."]},
)
NOT_FOUND = _error(
    404,
    "No such unit, or one this user may not read (the two are not told apart).",
    "Unknown muid",
    {"detail": ["No unit with this muid."]},
)
UNAUTHORIZED = _error(
    401,
    "No credentials, or a wrong token: send `Authorization: Token <key>` or a session cookie.",
    "No credentials",
    {"detail": ["Authentication credentials were not provided."]},
)
THROTTLED = _error(
    429,
    "Too many requests from this user (or address); Retry-After says when to try again.",
    "Throttled",
    {"detail": ["Request was throttled. Expected available in 12 seconds."]},
)
# Error responses, declared as JSON only: a CSV operation's errors are JSON too.
ACCESS = {(401, JSON): UNAUTHORIZED, (429, JSON): THROTTLED}
INVALID = {(400, JSON): BAD_REQUEST, **ACCESS}


def csv_response(description: str, example: str) -> dict:
    """The 200 of a CSV operation: text/csv only, a string, so a generated client reads text.

    Never beside application/json on one operation: a client generator types a 200 by its first
    media type and would parse the CSV as JSON.
    """
    return {
        (200, CSV): OpenApiResponse(
            OpenApiTypes.STR,
            description=description,
            examples=[OpenApiExample("CSV", value=example, media_type=CSV)],
        )
    }


class PageSchema(AutoSchema):
    """For viewsets whose `list` answers one page object ({next, previous, results}).

    drf-spectacular takes a `list` action to answer an array of its serializer and would
    describe the page as an array of pages (schemathesis caught it).
    """

    def _is_list_view(self, serializer=None) -> bool:
        return False
