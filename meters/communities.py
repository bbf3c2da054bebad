"""Energy communities: who may see one, and its balance, computed by the database.

Per 15-minute interval t, over the members' readings of active energy per measuring period:

- production P = the producing members' export (OBIS 1-0:2.29.0), consumption C = the consuming
  members' import (1-0:1.29.0); "both" counts a member's import and its export. The other
  codes of groups 1.x.x and 2.x.x are left out: total registers (1.8.0) count up since the
  meter was installed and instantaneous power (1.7.0) is kW, neither adds up per interval.
- shareable energy S = min(P, C), allocated to the consumers by the community's method:
  dynamic in proportion to each one's consumption; static by fixed shares, each capped at the
  member's consumption, what a cap leaves *not* given to the others (it stays `unallocated`
  and goes to the grid as surplus); hybrid the fixed shares first, then what is left in
  proportion to what each consumer still draws.
- shared = what was allocated (S, less `unallocated` under static shares); each consumer's
  from_grid = its consumption - from_community; each producer's to_community = shared in
  proportion to its production, to_grid the rest. Community: grid_import = C - shared,
  surplus = P - shared, so shared + grid_import = C and shared + surplus = P exactly.

Exact arithmetic on both databases: energy is handled as whole micro-kWh (the stored scale of
six decimal places) in 64-bit integers, so SQLite's floating point never touches a sum, and a
proportional split is rounded by largest remainder: its parts add up to the whole to the last
digit, every interval. The products of the proportional split bound a community's figures to
about 3,000 kWh per quarter hour (12 MW): beyond, they pass 2**63.

An interval counts only when every member has the readings its role needs: one with a member
missing is left out of every sum, never read as zero, and shown as `incomplete`; `count` of a
bucket is its counted intervals, `expected` what a complete bucket holds (as in
meters.selectors.readings_aggregate). A member's `missing` is the intervals of the bucket in
which others reported and it did not.
"""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from zoneinfo import ZoneInfo

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import BigIntegerField, Exists, F, OuterRef, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import Cast, Round

from meters.models import (
    VALUE_DECIMAL_PLACES,
    Channel,
    Community,
    Member,
    MuidText,
    Reading,
    Unit,
)
from meters.obis import obis_hex
from meters.selectors import (
    IN_BOUNDS,
    Interval,
    _bucket_key,
    bucket_bounds,
    channels_span,
    visible_units,
)

IMPORT_CODE = obis_hex("1-0:1.29.0")  # active energy import per measuring period
EXPORT_CODE = obis_hex("1-0:2.29.0")  # active energy export per measuring period
ENERGY_CODES = (IMPORT_CODE, EXPORT_CODE)
# Energy in the SQL below is whole micro-kWh: the stored values' scale.
MICRO = 10**VALUE_DECIMAL_PLACES
SHARE_MICRO = 10**6
RATIO_QUANTUM = Decimal("0.000001")


# --- Who sees a community -----------------------------------------------------------------


def visible_communities(
    *, user: AbstractBaseUser | AnonymousUser | None = None
) -> QuerySet[Community]:
    """The communities `user` may read, with their members and units prefetched.

    Staff read every one. Anyone else reads a community only when they may read every unit in
    it (meters.selectors.visible_units), so a community never shows a unit, its figures or its
    muid to someone who may not read that unit; and one without members is staff's alone. Any
    other community looks exactly like one that does not exist.
    """
    readable = visible_units(user=user)
    communities = Community.objects.all()
    if not (user is not None and user.is_authenticated and user.is_active):
        communities = communities.none()
    elif not (user.is_staff or user.is_superuser):
        unreadable = Member.objects.filter(community=OuterRef("pk")).exclude(unit__in=readable)
        any_member = Member.objects.filter(community=OuterRef("pk"))
        communities = communities.filter(Exists(any_member), ~Exists(unreadable))
    members = Member.objects.select_related("unit").order_by("unit__muid")
    return communities.prefetch_related(Prefetch("members", queryset=members))


def share_errors(allocation: str, members: Sequence[tuple[str, Decimal | None]]) -> list[str]:
    """What is wrong with the static shares of `members` ((role, share) pairs) under
    `allocation`; the admin and the API both check through here."""
    errors = []
    shares = [share for role, share in members if share is not None]
    if any(share is not None and role == Member.Role.PRODUCER for role, share in members):
        errors.append("Only consumers (and members of role both) take a share.")
    if allocation == Community.Allocation.DYNAMIC and shares:
        errors.append("Dynamic allocation takes no shares: leave them empty or choose static.")
    total = sum(shares, Decimal(0))
    if total > 1:
        errors.append(f"The shares add up to {total.normalize()}, more than 1.")
    return errors


# --- The balance ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommunityBucket:
    """The community's flows in one bucket, over its counted (complete) intervals."""

    start: datetime
    end: datetime
    production: Decimal
    consumption: Decimal
    shared: Decimal
    grid_import: Decimal
    surplus: Decimal
    # Shareable energy the static shares' caps left unallocated (part of surplus).
    unallocated: Decimal
    self_consumption: Decimal | None  # shared / production
    self_sufficiency: Decimal | None  # shared / consumption
    count: int
    incomplete: int
    expected: int

    @property
    def complete(self) -> bool:
        return self.count == self.expected


@dataclass(frozen=True, slots=True)
class MemberBucket:
    """One member's part of the community's flows in one bucket: the lines of its bill."""

    muid: str
    role: str
    start: datetime
    end: datetime
    consumption: Decimal
    from_community: Decimal
    from_grid: Decimal
    production: Decimal
    to_community: Decimal
    to_grid: Decimal
    count: int
    missing: int
    expected: int


def community_balance(
    *,
    community: Community,
    interval: Interval,
    tz: ZoneInfo,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Iterator[CommunityBucket]:
    """The community's buckets of `interval` in the calendar of `tz` within [start, end) and its
    validity, oldest first; one query. Buckets without any reading are absent."""
    query = _flows_query(community, interval=interval, tz=tz, start=start, end=end)
    if query is None:
        return
    sql, params = query
    sql += """
SELECT bucket,
       SUM(CASE WHEN complete = 1 THEN p ELSE 0 END),
       SUM(CASE WHEN complete = 1 THEN c ELSE 0 END),
       SUM(a),
       SUM(CASE WHEN interval_row = 1 THEN s_all - a_all ELSE 0 END),
       SUM(CASE WHEN interval_row = 1 THEN complete ELSE 0 END),
       SUM(CASE WHEN interval_row = 1 THEN 1 - complete ELSE 0 END)
FROM flows GROUP BY bucket ORDER BY bucket"""
    bounds = bucket_bounds(interval=interval, tz=tz)
    for key, production, consumption, shared, unallocated, count, incomplete in _rows(sql, params):
        bucket_start, bucket_end, expected = bounds(_key(key, interval))
        production, consumption, shared = _kwh(production), _kwh(consumption), _kwh(shared)
        yield CommunityBucket(
            start=bucket_start,
            end=bucket_end,
            production=production,
            consumption=consumption,
            shared=shared,
            grid_import=consumption - shared,
            surplus=production - shared,
            unallocated=_kwh(unallocated),
            self_consumption=_ratio(shared, production),
            self_sufficiency=_ratio(shared, consumption),
            count=int(count),
            incomplete=int(incomplete),
            expected=expected,
        )


def members_balance(
    *,
    community: Community,
    interval: Interval,
    tz: ZoneInfo,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Iterator[MemberBucket]:
    """Each member's buckets, ordered by muid and start; one query. Only the counted intervals
    enter the sums, as in community_balance, so the members' parts add up to its figures."""
    query = _flows_query(community, interval=interval, tz=tz, start=start, end=end)
    if query is None:
        return
    sql, params = query
    connection = connections[Reading.objects.db]
    compiler = Reading.objects.none().query.get_compiler(connection=connection)
    muid = Unit._meta.get_field("muid").get_col("unit")
    muid_text_sql, _ = compiler.compile(MuidText(muid))
    muid_sql, _ = compiler.compile(muid)
    quote = connection.ops.quote_name
    sql += f"""
SELECT {muid_text_sql}, flows.role, flows.bucket,
       SUM(CASE WHEN flows.complete = 1 THEN flows.c ELSE 0 END),
       SUM(flows.a),
       SUM(CASE WHEN flows.complete = 1 THEN flows.p ELSE 0 END),
       SUM(flows.t),
       SUM(flows.complete),
       SUM(1 - flows.ok)
FROM flows INNER JOIN {quote(Unit._meta.db_table)} {quote("unit")}
  ON {quote("unit")}.{quote(Unit._meta.pk.column)} = flows.unit_id
GROUP BY {muid_sql}, {muid_text_sql}, flows.role, flows.bucket
ORDER BY {muid_sql}, flows.bucket"""
    bounds = bucket_bounds(interval=interval, tz=tz)
    for muid_text, role, key, consumption, received, production, given, count, missing in _rows(
        sql, params
    ):
        bucket_start, bucket_end, expected = bounds(_key(key, interval))
        consumption, received = _kwh(consumption), _kwh(received)
        production, given = _kwh(production), _kwh(given)
        yield MemberBucket(
            muid=muid_text,
            role=role,
            start=bucket_start,
            end=bucket_end,
            consumption=consumption,
            from_community=received,
            from_grid=consumption - received,
            production=production,
            to_community=given,
            to_grid=production - given,
            count=int(count),
            missing=int(missing),
            expected=expected,
        )


def balance_window(
    community: Community, *, start: datetime | None, end: datetime | None
) -> tuple[datetime | None, datetime | None]:
    """The part of [start, end) the balance reads: within the community's validity and, where
    a bound is open, the span of its members' energy channels (from the channels' stored spans,
    no query over readings). (None, None) when the members have no readings."""
    units = Unit.objects.filter(memberships__community=community)
    first, last = channels_span(units=units, obis=ENERGY_CODES)
    if first is None or last is None:
        return None, None
    lower = max(moment for moment in (start, community.valid_from, first) if moment is not None)
    upper = min(moment for moment in (end, community.valid_to, last) if moment is not None)
    return lower, upper


def member_totals(buckets: Sequence[MemberBucket]) -> list[MemberBucket]:
    """Each member's buckets added up over the whole window (start and end its first and last
    bucket's), in the order of first appearance."""
    totals: dict[str, MemberBucket] = {}
    for bucket in buckets:
        seen = totals.get(bucket.muid)
        if seen is None:
            totals[bucket.muid] = bucket
            continue
        totals[bucket.muid] = MemberBucket(
            muid=seen.muid,
            role=seen.role,
            start=seen.start,
            end=bucket.end,
            consumption=seen.consumption + bucket.consumption,
            from_community=seen.from_community + bucket.from_community,
            from_grid=seen.from_grid + bucket.from_grid,
            production=seen.production + bucket.production,
            to_community=seen.to_community + bucket.to_community,
            to_grid=seen.to_grid + bucket.to_grid,
            count=seen.count + bucket.count,
            missing=seen.missing + bucket.missing,
            expected=seen.expected + bucket.expected,
        )
    return list(totals.values())


def _kwh(micro: int | Decimal | None) -> Decimal:
    """Whole micro-kWh from the database as exact kWh."""
    return Decimal(int(micro or 0)).scaleb(-VALUE_DECIMAL_PLACES)


def _ratio(part: Decimal, whole: Decimal) -> Decimal | None:
    if not whole:
        return None
    return (part / whole).quantize(RATIO_QUANTUM, rounding=ROUND_HALF_EVEN)


def _key(value: object, interval: Interval) -> date | int:
    """A bucket key as selectors.bucket_bounds takes it (SQLite returns dates as text)."""
    if interval.minutes:
        return int(value)
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _rows(sql: str, params: Sequence) -> Iterator[tuple]:
    with connections[Reading.objects.db].cursor() as cursor:
        cursor.execute(sql, params)
        yield from cursor.fetchall()


def _flows_query(
    community: Community,
    *,
    interval: Interval,
    tz: ZoneInfo,
    start: datetime | None,
    end: datetime | None,
) -> tuple[str, list] | None:
    """`WITH ... flows AS (...)`: one row per interval and member, with the member's
    consumption c, production p, allocation a (from the community) and t (to the community),
    and the interval's figures; None when nothing can match.

    The readings are selected and bucketed by the ORM (the bucket key of
    selectors.readings_aggregate, in `tz`); the allocation is written around them as common
    table expressions that PostgreSQL and SQLite both run. Each window is one interval's
    members (PARTITION BY ts).
    """
    readings = Reading.objects.filter(
        IN_BOUNDS,
        channel__in=Channel.objects.filter(
            unit__memberships__community=community, obis__in=ENERGY_CODES
        ),
    )
    for bound in (start, community.valid_from):
        if bound is not None:
            readings = readings.filter(timestamp__gte=bound)
    for bound in (end, community.valid_to):
        if bound is not None:
            readings = readings.filter(timestamp__lt=bound)
    micro = Cast(Round(F("value") * MICRO), BigIntegerField())
    per_member = (
        readings.values("channel__unit_id", "timestamp")
        .annotate(bucket=_bucket_key(interval, tz))
        .values("channel__unit_id", "timestamp", "bucket")
        .annotate(
            # Cast: PostgreSQL sums bigints as numeric, whose division is not integral.
            imp=Cast(Sum(micro, filter=Q(channel__obis=IMPORT_CODE)), BigIntegerField()),
            exp=Cast(Sum(micro, filter=Q(channel__obis=EXPORT_CODE)), BigIntegerField()),
        )
        .order_by()
    )
    connection = connections[per_member.db]
    try:
        inner_sql, inner_params = per_member.query.get_compiler(connection=connection).as_sql()
    except EmptyResultSet:
        return None
    quote = connection.ops.quote_name
    role = Member.Role
    allocation = Community.Allocation(community.allocation)
    use_shares = int(allocation in (allocation.STATIC, allocation.HYBRID))
    redistribute = int(allocation in (allocation.DYNAMIC, allocation.HYBRID))
    # Whole micro-kWh throughout: an integer division rounds a proportional part down, and
    # the units it leaves go one each to the largest remainders (ties: the lower unit id).
    sql = f"""WITH readings (unit_id, ts, bucket, imp, exp) AS ({inner_sql}),
members AS (
  SELECT {quote("unit_id")} AS unit_id, {quote("role")} AS role,
         CASE WHEN {quote("role")} IN ('{role.CONSUMER}', '{role.BOTH}') THEN 1 ELSE 0 END
           AS consumes,
         CASE WHEN {quote("role")} IN ('{role.PRODUCER}', '{role.BOTH}') THEN 1 ELSE 0 END
           AS produces,
         CASE WHEN {use_shares} = 1
              THEN COALESCE(CAST(ROUND({quote("share")} * {SHARE_MICRO}) AS bigint), 0)
              ELSE 0 END AS share_micro
  FROM {quote(Member._meta.db_table)} WHERE {quote("community_id")} = %s
),
slots AS (SELECT DISTINCT ts, bucket FROM readings),
present AS (
  SELECT s.ts, s.bucket, m.unit_id, m.role, m.share_micro,
         CASE WHEN (m.consumes = 0 OR r.imp IS NOT NULL) AND (m.produces = 0 OR r.exp IS NOT NULL)
              THEN 1 ELSE 0 END AS ok,
         CASE WHEN m.consumes = 1 THEN COALESCE(r.imp, 0) ELSE 0 END AS c,
         CASE WHEN m.produces = 1 THEN COALESCE(r.exp, 0) ELSE 0 END AS p
  FROM slots s CROSS JOIN members m
  LEFT JOIN readings r ON r.unit_id = m.unit_id AND r.ts = s.ts
),
totals AS (
  SELECT present.*,
         MIN(ok) OVER (PARTITION BY ts) AS complete,
         CAST(SUM(c) OVER (PARTITION BY ts) AS bigint) AS c_all,
         CAST(SUM(p) OVER (PARTITION BY ts) AS bigint) AS p_all
  FROM present
),
shareable AS (
  SELECT totals.*,
         CASE WHEN complete = 0 THEN 0 WHEN p_all < c_all THEN p_all ELSE c_all END AS s_all
  FROM totals
),
fixed AS (
  SELECT shareable.*,
         CASE WHEN s_all * share_micro / {SHARE_MICRO} < c THEN s_all * share_micro / {SHARE_MICRO}
              ELSE c END AS fixed_part
  FROM shareable
),
fixed_totals AS (
  SELECT fixed.*, CAST(SUM(fixed_part) OVER (PARTITION BY ts) AS bigint) AS fixed_all FROM fixed
),
parts AS (
  SELECT fixed_totals.*,
         CASE WHEN {redistribute} = 1 THEN s_all - fixed_all ELSE 0 END AS left_all,
         c - fixed_part AS wanting,
         c_all - fixed_all AS wanting_all
  FROM fixed_totals
),
split AS (
  SELECT parts.*,
         CASE WHEN wanting_all = 0 THEN 0 ELSE left_all * wanting / wanting_all END AS part,
         CASE WHEN wanting_all = 0 THEN 0 ELSE left_all * wanting %% wanting_all END AS part_rest
  FROM parts
),
ranked AS (
  SELECT split.*,
         left_all - CAST(SUM(part) OVER (PARTITION BY ts) AS bigint) AS part_units,
         ROW_NUMBER() OVER (PARTITION BY ts ORDER BY part_rest DESC, unit_id) AS part_rank
  FROM split
),
allocated AS (
  SELECT ranked.*,
         fixed_part + part + CASE WHEN part_rank <= part_units THEN 1 ELSE 0 END AS a
  FROM ranked
),
allocated_totals AS (
  SELECT allocated.*, CAST(SUM(a) OVER (PARTITION BY ts) AS bigint) AS a_all FROM allocated
),
giving AS (
  SELECT allocated_totals.*,
         CASE WHEN p_all = 0 THEN 0 ELSE a_all * p / p_all END AS given,
         CASE WHEN p_all = 0 THEN 0 ELSE a_all * p %% p_all END AS given_rest
  FROM allocated_totals
),
given_ranked AS (
  SELECT giving.*,
         a_all - CAST(SUM(given) OVER (PARTITION BY ts) AS bigint) AS given_units,
         ROW_NUMBER() OVER (PARTITION BY ts ORDER BY given_rest DESC, unit_id) AS given_rank
  FROM giving
),
flows AS (
  SELECT ts, bucket, unit_id, role, ok, complete, c, p, a, s_all, a_all,
         given + CASE WHEN given_rank <= given_units THEN 1 ELSE 0 END AS t,
         -- One row of each interval, for the figures of the interval as a whole.
         CASE WHEN part_rank = 1 THEN 1 ELSE 0 END AS interval_row
  FROM given_ranked
)"""
    return sql, [*inner_params, community.pk]
