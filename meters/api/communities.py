"""The communities endpoints: communities and their members (staff write, members read), and
their balance per bucket, for the community and per member, as JSON or CSV.

A community is visible only to staff and to users granted every unit in it
(meters.communities.visible_communities); any other is a 404, as one that does not exist.
The answers' columns are declared once (BALANCE_COLUMNS, MEMBER_COLUMNS): the JSON rows, the
CSV and the OpenAPI schema are all made from them.
"""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, transaction
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.response import Response

from meters.api import schema
from meters.api.renderers import BrowsableAPIRenderer, CSVRenderer, FastJSONRenderer, csv_response
from meters.api.serializers import (
    DecimalTextField,
    LocalDateTimeField,
    decimal_text,
    with_bound_texts,
)
from meters.api.views import CSVOrJSON, check_bucket_limit
from meters.communities import (
    CommunityBucket,
    MemberBucket,
    balance_window,
    community_balance,
    members_balance,
    share_errors,
    visible_communities,
)
from meters.models import Community, Member, Unit
from meters.moments import EARLIEST, LATEST, format_utc
from meters.params import IntervalField, RangeForm, parse_muid
from meters.selectors import Interval

# --- Communities and members --------------------------------------------------------------


class StaffWrites(BasePermission):
    """Reading is for any user who sees the community; creating, changing and deleting for staff."""

    message = "Only staff may create, change or delete communities."

    def has_permission(self, request, view) -> bool:
        return request.method in SAFE_METHODS or bool(request.user and request.user.is_staff)


@extend_schema_field({"type": "string", "pattern": schema.UUID_PATTERN, "example": schema.CONSUMER})
class MuidField(serializers.Field):
    """A unit by its muid."""

    default_error_messages = {"missing": "No unit with this muid."}

    def to_internal_value(self, data) -> Unit:
        try:
            muid = parse_muid(str(data))
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages) from None
        unit = Unit.objects.filter(muid=muid).first()
        if unit is None:
            self.fail("missing")
        return unit

    def to_representation(self, unit: Unit) -> str:
        return str(unit.muid)


class MemberSerializer(serializers.ModelSerializer):
    muid = MuidField(source="unit", help_text="The member unit's muid.")
    share = serializers.DecimalField(
        max_digits=7,
        decimal_places=6,
        min_value=0,
        max_value=1,
        allow_null=True,
        required=False,
        help_text="Static share of the shared energy, 0 to 1 (static and hybrid allocation); "
        "null: none.",
    )

    class Meta:
        model = Member
        fields = ["muid", "role", "share"]


class CommunitySerializer(serializers.ModelSerializer):
    members = MemberSerializer(many=True, help_text="Every member; PATCH replaces the list.")

    class Meta:
        model = Community
        fields = [
            "id",
            "name",
            "kind",
            "allocation",
            "tz",
            "valid_from",
            "valid_to",
            "description",
            "members",
        ]
        read_only_fields = ["id"]

    def validate(self, attrs: dict) -> dict:
        community = self.instance
        allocation = attrs.get("allocation", community and community.allocation)
        if "members" in attrs:
            members = [(m["role"], m.get("share")) for m in attrs["members"]]
            muids = [m["unit"].muid for m in attrs["members"]]
            if len(set(muids)) < len(muids):
                raise ValidationError({"members": ["A unit is a member at most once."]})
        else:
            members = [(m.role, m.share) for m in community.members.all()] if community else []
        errors = share_errors(allocation or Community.Allocation.DYNAMIC, members)
        if errors:
            raise ValidationError({"members": errors})
        bounds = {
            name: attrs.get(name, getattr(community, name, None))
            for name in ("valid_from", "valid_to")
        }
        for name, moment in bounds.items():
            if moment is not None and not EARLIEST <= moment < LATEST:
                raise ValidationError(
                    {name: [f"Must lie in [{format_utc(EARLIEST)}, {format_utc(LATEST)})."]}
                )
        if None not in bounds.values() and bounds["valid_to"] <= bounds["valid_from"]:
            raise ValidationError({"valid_to": ["Must be later than valid_from."]})
        return attrs

    @transaction.atomic
    def create(self, validated_data: dict) -> Community:
        members = validated_data.pop("members")
        community = Community.objects.create(**validated_data)
        self._set_members(community, members)
        return community

    @transaction.atomic
    def update(self, community: Community, validated_data: dict) -> Community:
        members = validated_data.pop("members", None)
        community = super().update(community, validated_data)
        if members is not None:
            community.members.all().delete()
            self._set_members(community, members)
        return community

    @staticmethod
    def _set_members(community: Community, members: list[dict]) -> None:
        Member.objects.bulk_create(Member(community=community, **member) for member in members)


# --- The balance --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    """One field of a bucket: its name in JSON and CSV, how it is written, what it means."""

    name: str
    kind: str  # energy, ratio, instant, count, muid, role
    help: str


ENERGY_NOTE = "kWh over the bucket's counted intervals, exact decimal text"
BALANCE_COLUMNS = (
    Column("start", "instant", "Start of the bucket, with the offset of tz."),
    Column("end", "instant", "End of the bucket (exclusive), with the offset of tz."),
    Column("production", "energy", f"P: the members' export; {ENERGY_NOTE}."),
    Column("consumption", "energy", f"C: the members' import; {ENERGY_NOTE}."),
    Column("shared", "energy", f"Energy allocated to consumers from the community; {ENERGY_NOTE}."),
    Column("grid_import", "energy", f"consumption - shared: drawn from the grid; {ENERGY_NOTE}."),
    Column("surplus", "energy", f"production - shared: fed into the grid; {ENERGY_NOTE}."),
    Column(
        "unallocated",
        "energy",
        "Shareable energy, min(P, C), that capped static shares left unallocated: not given to "
        f"other consumers, part of surplus; 0 under dynamic and hybrid allocation; {ENERGY_NOTE}.",
    ),
    Column("self_consumption", "ratio", "shared / production; null without production."),
    Column("self_sufficiency", "ratio", "shared / consumption; null without consumption."),
    Column("count", "count", "Counted intervals: those in which every member has its readings."),
    Column(
        "incomplete",
        "count",
        "Intervals with readings of some members but not of all: left out of every figure.",
    ),
    Column(
        "expected",
        "count",
        "Intervals a complete bucket holds: 96 a day, 92 or 100 across a DST change.",
    ),
)
MEMBER_COLUMNS = (
    Column("muid", "muid", "The member unit."),
    Column("role", "role", "What the member takes part with: consumer, producer or both."),
    BALANCE_COLUMNS[0],
    BALANCE_COLUMNS[1],
    Column("consumption", "energy", f"The member's import; {ENERGY_NOTE}."),
    Column("from_community", "energy", f"Its part of the shared energy; {ENERGY_NOTE}."),
    Column("from_grid", "energy", f"consumption - from_community; {ENERGY_NOTE}."),
    Column("production", "energy", f"The member's export; {ENERGY_NOTE}."),
    Column(
        "to_community",
        "energy",
        f"Its part of the shared energy, in proportion to production; {ENERGY_NOTE}.",
    ),
    Column("to_grid", "energy", f"production - to_community; {ENERGY_NOTE}."),
    Column("count", "count", "Counted intervals of the bucket (the community's)."),
    Column(
        "missing",
        "count",
        "Intervals of the bucket in which other members reported and this one did not.",
    ),
    BALANCE_COLUMNS[-1],
)


def _field(column: Column) -> serializers.Field:
    kinds: dict[str, Callable[..., serializers.Field]] = {
        "energy": DecimalTextField,
        "ratio": lambda **kwargs: DecimalTextField(allow_null=True, **kwargs),
        "instant": LocalDateTimeField,
        "count": serializers.IntegerField,
        "muid": serializers.UUIDField,
        "role": lambda **kwargs: serializers.ChoiceField(choices=Member.Role.choices, **kwargs),
    }
    return kinds[column.kind](help_text=column.help)


def _serializer(name: str, columns: Iterable[Column]) -> type[serializers.Serializer]:
    """A serializer of the columns, for the schema (rows are written by _rows)."""
    fields = {column.name: _field(column) for column in columns}
    return type(name, (serializers.Serializer,), fields)


BalanceBucketSerializer = _serializer("CommunityBucket", BALANCE_COLUMNS)
MemberBucketSerializer = _serializer("MemberBucket", MEMBER_COLUMNS)


class _BalanceSerializer(serializers.Serializer):
    community = serializers.IntegerField(help_text="The community's id.")
    allocation = serializers.ChoiceField(
        choices=Community.Allocation.choices, help_text="How shared energy goes to consumers."
    )
    interval = serializers.ChoiceField(
        choices=[interval.value for interval in Interval], help_text="The interval asked for."
    )
    tz = serializers.CharField(help_text="The zone whose calendar the buckets follow.")
    start = LocalDateTimeField(allow_null=True, help_text="The start parameter, as understood.")
    end = LocalDateTimeField(allow_null=True, help_text="The end parameter, as understood.")


class BalanceSerializer(_BalanceSerializer):
    buckets = BalanceBucketSerializer(many=True)


class MembersBalanceSerializer(_BalanceSerializer):
    buckets = MemberBucketSerializer(many=True)


def _rows(
    buckets: Iterable[CommunityBucket | MemberBucket], columns: tuple[Column, ...]
) -> Iterator[list]:
    """Each bucket as the values of `columns`: energy and ratios as exact decimal text, instants
    with the offset of their zone, counts as integers."""
    for bucket, start, end in with_bound_texts(buckets):
        bounds = {"start": start, "end": end}
        row = []
        for column in columns:
            value = bounds.get(column.name) or getattr(bucket, column.name)
            if column.kind in ("energy", "ratio") and value is not None:
                value = decimal_text(value)
            row.append(value)
        yield row


class BalanceForm(RangeForm):
    """The range and zone rules of the aggregate endpoint (meters/params.py); the zone defaults
    to the community's."""

    interval = IntervalField(required=True)


TZ = OpenApiParameter(
    "tz",
    OpenApiTypes.STR,
    OpenApiParameter.QUERY,
    description="IANA time zone whose calendar plain dates and buckets follow (default: the "
    "community's zone).",
    examples=[OpenApiExample("Zurich", value="Europe/Zurich"), OpenApiExample("UTC", value="UTC")],
)
BALANCE_PARAMETERS = [schema.INTERVAL, schema.START, schema.END, TZ]
FORBIDDEN = schema._error(
    403,
    "Only staff may create, change or delete communities.",
    "Not staff",
    {"detail": ["Only staff may create, change or delete communities."]},
)
NO_COMMUNITY = schema._error(
    404,
    "No such community, or one this user may not read (the two are not told apart).",
    "Unknown id",
    {"detail": ["No community with this id."]},
)
SEEN = {(404, schema.JSON): NO_COMMUNITY, **schema.ACCESS}
BALANCE_CSV_EXAMPLE = (
    ",".join(column.name for column in BALANCE_COLUMNS) + "\r\n"
    "2023-02-01T00:00:00+01:00,2023-03-01T00:00:00+01:00,36.19725,97.5612,14.83605,82.72515,"
    "21.3612,0,0.409867,0.152069,2684,0,2688\r\n"
)
MEMBERS_CSV_EXAMPLE = (
    ",".join(column.name for column in MEMBER_COLUMNS) + "\r\n"
    f"{schema.CONSUMER},consumer,2023-02-01T00:00:00+01:00,2023-03-01T00:00:00+01:00,"
    "97.5612,14.83605,82.72515,0,0,0,2684,0,2688\r\n"
)
BALANCE_DESCRIPTION = (
    "Per 15-minute interval: production P (the members' export, 1-0:2.29.0), consumption C "
    "(their import, 1-0:1.29.0), shareable S = min(P, C) allocated by the community's method; "
    "summed by the database into buckets of interval in the calendar of tz. An interval with "
    "a member's reading missing is left out (incomplete), never read as zero; buckets without "
    "readings are absent. See docs/API.md."
)


class CommunityViewSet(CSVOrJSON, viewsets.ModelViewSet):
    """Energy communities with their members, and their balance."""

    serializer_class = CommunitySerializer
    permission_classes = [IsAuthenticated, StaffWrites]
    pagination_class = None
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return visible_communities(user=self.request.user)

    def get_object(self) -> Community:
        try:
            return super().get_object()
        except Http404:
            raise NotFound("No community with this id.") from None

    @extend_schema(
        operation_id="communitiesList",
        tags=["communities"],
        summary="List the communities",
        description="Every community this user may read: staff all, anyone else those whose "
        "every unit is granted to them.",
        responses={(200, schema.JSON): CommunitySerializer(many=True), **schema.ACCESS},
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(
        operation_id="communitiesCreate",
        tags=["communities"],
        summary="Create a community (staff)",
        responses={
            (201, schema.JSON): CommunitySerializer,
            (400, schema.JSON): schema.BAD_REQUEST,
            (403, schema.JSON): FORBIDDEN,
            **schema.ACCESS,
        },
    )
    def create(self, request, *args, **kwargs):
        return super().create(request, *args, **kwargs)

    @extend_schema(
        operation_id="communitiesRetrieve",
        tags=["communities"],
        summary="One community",
        responses={(200, schema.JSON): CommunitySerializer, **SEEN},
    )
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        operation_id="communitiesPartialUpdate",
        tags=["communities"],
        summary="Change a community (staff)",
        description="The fields given change; members, when given, replace the whole list.",
        responses={
            (200, schema.JSON): CommunitySerializer,
            (400, schema.JSON): schema.BAD_REQUEST,
            (403, schema.JSON): FORBIDDEN,
            **SEEN,
        },
    )
    def partial_update(self, request, *args, **kwargs):
        return super().partial_update(request, *args, **kwargs)

    @extend_schema(
        operation_id="communitiesDestroy",
        tags=["communities"],
        summary="Delete a community (staff)",
        description="The community and its memberships; the units and readings stay.",
        responses={204: None, (403, schema.JSON): FORBIDDEN, **SEEN},
    )
    def destroy(self, request, *args, **kwargs):
        return super().destroy(request, *args, **kwargs)

    @extend_schema(
        operation_id="communitiesBalance",
        tags=["communities"],
        summary="The community's balance per bucket",
        description=f"{BALANCE_DESCRIPTION} The same as CSV: balance/csv/.",
        parameters=[*BALANCE_PARAMETERS, schema.NO_FORMAT],
        responses={
            (200, schema.JSON): BalanceSerializer,
            (400, schema.JSON): schema.BAD_REQUEST,
            **SEEN,
        },
    )
    @action(detail=True, renderer_classes=[FastJSONRenderer, BrowsableAPIRenderer, CSVRenderer])
    def balance(self, request, pk=None):
        return self._balance(request, members=False)

    @extend_schema(
        operation_id="communitiesBalanceCsv",
        tags=["communities"],
        summary="Export the community's balance as CSV",
        description=BALANCE_DESCRIPTION,
        parameters=BALANCE_PARAMETERS,
        responses={
            **schema.csv_response("The buckets.", BALANCE_CSV_EXAMPLE),
            (400, schema.JSON): schema.BAD_REQUEST,
            **SEEN,
        },
    )
    @action(
        detail=True, url_path="balance/csv", url_name="balance-csv", renderer_classes=[CSVRenderer]
    )
    def balance_csv(self, request, pk=None):
        return self._balance(request, members=False, csv=True)

    @extend_schema(
        operation_id="communitiesMembersBalance",
        tags=["communities"],
        summary="Each member's balance per bucket: the lines of its bill",
        description=f"{BALANCE_DESCRIPTION} Per member: consumption split into from_community "
        "and from_grid, production into to_community and to_grid. The same as CSV: "
        "members/balance/csv/.",
        parameters=[*BALANCE_PARAMETERS, schema.NO_FORMAT],
        responses={
            (200, schema.JSON): MembersBalanceSerializer,
            (400, schema.JSON): schema.BAD_REQUEST,
            **SEEN,
        },
    )
    @action(
        detail=True,
        url_path="members/balance",
        url_name="members-balance",
        renderer_classes=[FastJSONRenderer, BrowsableAPIRenderer, CSVRenderer],
    )
    def members_balance(self, request, pk=None):
        return self._balance(request, members=True)

    @extend_schema(
        operation_id="communitiesMembersBalanceCsv",
        tags=["communities"],
        summary="Export each member's balance as CSV",
        description=BALANCE_DESCRIPTION,
        parameters=BALANCE_PARAMETERS,
        responses={
            **schema.csv_response("One row per member and bucket.", MEMBERS_CSV_EXAMPLE),
            (400, schema.JSON): schema.BAD_REQUEST,
            **SEEN,
        },
    )
    @action(
        detail=True,
        url_path="members/balance/csv",
        url_name="members-balance-csv",
        renderer_classes=[CSVRenderer],
    )
    def members_balance_csv(self, request, pk=None):
        return self._balance(request, members=True, csv=True)

    def _balance(self, request, *, members: bool, csv: bool = False):
        community = self.get_object()
        form = BalanceForm(request.query_params, default_tz=ZoneInfo(community.tz))
        if not form.is_valid():
            raise ValidationError({name: list(errors) for name, errors in form.errors.items()})
        params = form.cleaned_data
        interval, tz = params["interval"], params["tz"]
        start, end = balance_window(community, start=params["start"], end=params["end"])
        check_bucket_limit(start, end, interval=interval, tz=tz)
        select = members_balance if members else community_balance
        buckets = _first_run(
            select(community=community, interval=interval, tz=tz, start=start, end=end)
        )
        columns = MEMBER_COLUMNS if members else BALANCE_COLUMNS
        if csv or self._csv(request):
            name = "members-balance" if members else "balance"
            return csv_response(
                filename=f"community-{community.pk}-{name}-{interval}.csv",
                header=[column.name for column in columns],
                rows=_rows(buckets, columns),
            )
        return Response(
            {
                "community": community.pk,
                "allocation": community.allocation,
                "interval": str(interval),
                "tz": str(tz),
                "start": _text(params["start"], tz),
                "end": _text(params["end"], tz),
                "buckets": [
                    dict(zip((c.name for c in columns), row, strict=True))
                    for row in _rows(buckets, columns)
                ],
            }
        )


def _text(moment: datetime | None, tz: ZoneInfo) -> str | None:
    return moment and moment.astimezone(tz).isoformat()


def _first_run(buckets: Iterator) -> Iterator:
    """`buckets` with its query run: a zone the database lacks is a 400 here, not a failure
    halfway through a streamed answer."""
    try:
        first = next(buckets, None)
    except DataError:
        raise ValidationError({"tz": ["This time zone is not known to the database."]}) from None
    return chain([first], buckets) if first else iter(())
