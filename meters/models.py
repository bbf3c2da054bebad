"""Metering units, their OBIS channels, and the readings of each channel."""

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import connection, models
from django.db.models.functions import Round

from meters.obis import HEX_PATTERN, ObisCode, decode

# Values are kWh per 15-minute interval, stored as exact decimals with 6 places (1 mWh):
# the feed's float artefacts such as 0.17325000000000002 are stored as 0.17325.
VALUE_MAX_DIGITS = 15
VALUE_DECIMAL_PLACES = 6
VALUE_QUANTUM = Decimal(1).scaleb(-VALUE_DECIMAL_PLACES)
# Room for sums of millions of readings.
SUM_MAX_DIGITS = 24


def temporary_table(name: str) -> str:
    """The name of this connection's temporary table `name`, qualified so that a permanent
    table of that name is never meant."""
    return f"pg_temp.{name}" if connection.vendor == "postgresql" else f"temp.{name}"


def energy_sum(field: str = "value") -> Round:
    """The sum of reading values, exact at the stored scale.

    PostgreSQL adds numerics exactly. SQLite adds decimals in floating point, so the sum is
    rounded back to the stored scale in SQL, which removes that noise.
    """
    output = models.DecimalField(max_digits=SUM_MAX_DIGITS, decimal_places=VALUE_DECIMAL_PLACES)
    return Round(models.Sum(field), VALUE_DECIMAL_PLACES, output_field=output)


class MuidText(models.Func):
    """A muid column as its canonical text (`1db7649e-9342-...`), for rows that are written out.

    The database driver would build a uuid.UUID for every row, only for the API to turn it back
    into text: ~4 µs a row, the largest Python cost of a page of readings. SQLite stores a
    UUIDField as 32 hex digits, so there the dashes are put in.
    """

    output_field = models.CharField()
    template = "CAST(%(expressions)s AS text)"

    def as_sqlite(self, compiler, connection, **extra_context):
        column, params = compiler.compile(self.source_expressions[0])
        groups = ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))
        parts = " || '-' || ".join(f"substr({column}, {at}, {length})" for at, length in groups)
        return f"lower({parts})", params * len(groups)


class Unit(models.Model):
    """A metering unit, identified by its muid.

    Its readings show when people are home: only the users it is granted to, directly or
    through one of their groups, may read it (staff read every unit). See
    meters.selectors.visible_units.
    """

    muid = models.UUIDField("muid", unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    # The poll registry (meters/ingest/schedule.py): `ingest_meters` polls the enabled units
    # that are due. A unit first met in a document is stored, not polled.
    poll_enabled = models.BooleanField(
        "polled", default=False, help_text="Poll this unit's source on its schedule."
    )
    source_url = models.URLField(
        "source base URL",
        blank=True,
        help_text="The meter-data API this unit is read from; blank: METERS_SOURCE_BASE_URL.",
    )
    poll_interval = models.DurationField(
        null=True,
        blank=True,
        validators=[MinValueValidator(timedelta(minutes=1))],
        help_text="Time between two polls (e.g. 00:15:00); blank: METERS_POLL_INTERVAL_MINUTES.",
    )
    last_poll_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    next_poll_at = models.DateTimeField(
        null=True,
        blank=True,
        db_index=True,
        help_text="When the unit is next due; blank: at the next run.",
    )
    # Set when the unit's poll is put on the task queue, cleared when a task has dealt with it:
    # a unit queued already is not queued again (meters/ingest/queue.py).
    queued_at = models.DateTimeField(null=True, blank=True, editable=False)
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="granted_units",
        verbose_name="users granted",
        help_text="Users who may read this unit's data.",
    )
    groups = models.ManyToManyField(
        Group,
        blank=True,
        related_name="granted_units",
        verbose_name="groups granted",
        help_text="Groups whose members may read this unit's data.",
    )

    class Meta:
        ordering = ["muid"]

    def __str__(self) -> str:
        return str(self.muid)


class Channel(models.Model):
    """One OBIS code reported by a unit (a meter often has import and export).

    The reading span and count are kept here by the ingest, so that listing units never
    counts the readings table.
    """

    unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="channels")
    obis = models.CharField(
        "OBIS code",
        max_length=12,
        validators=[RegexValidator(HEX_PATTERN, "A 12-digit upper-case hex OBIS code.")],
    )
    first_reading_at = models.DateTimeField(null=True, blank=True)
    last_reading_at = models.DateTimeField(null=True, blank=True)
    reading_count = models.PositiveBigIntegerField(default=0)
    # Moves whenever an ingest changes this channel's readings; caches key on it.
    data_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["unit", "obis"]
        constraints = [
            models.UniqueConstraint(fields=["unit", "obis"], name="channel_unique_unit_obis"),
        ]

    def __str__(self) -> str:
        return f"{self.unit.muid} {self.code}"

    @property
    def decoded(self) -> ObisCode:
        return decode(self.obis)

    @property
    def code(self) -> str:
        return self.decoded.code


class Reading(models.Model):
    """The energy one channel measured in one 15-minute interval starting at `timestamp`."""

    # At most one reading per channel and timestamp: the primary key, and the index that range
    # queries of one channel over time use. No surrogate id: nothing refers to a reading, and
    # on PostgreSQL the table is partitioned by month (meters/partitions.py), where every
    # unique key must include the timestamp.
    pk = models.CompositePrimaryKey("channel", "timestamp")
    # No separate foreign-key index: the primary key serves lookups by channel. No
    # foreign-key constraint in the database either: its check runs once per inserted row (a
    # deferred trigger, about as long as the COPY itself at a million rows). The ingest, the
    # only writer, takes channel ids from rows it has just locked; deleting a channel still
    # cascades through Django.
    channel = models.ForeignKey(
        Channel,
        on_delete=models.CASCADE,
        related_name="readings",
        db_index=False,
        db_constraint=False,
    )
    timestamp = models.DateTimeField(help_text="Start of the interval (stored in UTC).")
    value = models.DecimalField(
        max_digits=VALUE_MAX_DIGITS,
        decimal_places=VALUE_DECIMAL_PLACES,
        help_text="Energy in the interval, in the channel's unit of measure (kWh).",
    )
    quality = models.CharField(max_length=32, help_text="As sent by the source, e.g. measured.")
    measurement = models.CharField(max_length=32, help_text="As sent by the source, e.g. energy.")

    def __str__(self) -> str:
        return f"{self.timestamp.isoformat()} {self.value}"


class RetentionBoundary(models.Model):
    """A prune of raw readings (meters/partitions.py): every reading before `raw_since` is
    gone, the rollups keep those hours and days. The latest boundary is what counts
    (raw_readings_since)."""

    raw_since = models.DateTimeField(help_text="Raw readings before this instant are pruned.")
    pruned_at = models.DateTimeField()

    class Meta:
        ordering = ["-raw_since"]

    def __str__(self) -> str:
        return f"raw readings since {self.raw_since.isoformat()}"


class Rollup(models.Model):
    """What the readings of one channel add up to over one period: kept by the ingest in the
    transaction that writes the readings (meters/rollups.py), read by the aggregates."""

    # The primary key (channel, period) serves lookups by channel; no constraint, as on Reading.
    channel = models.ForeignKey(
        Channel, on_delete=models.CASCADE, db_index=False, db_constraint=False
    )
    value_sum = models.DecimalField(max_digits=SUM_MAX_DIGITS, decimal_places=VALUE_DECIMAL_PLACES)
    reading_count = models.PositiveIntegerField()
    value_min = models.DecimalField(
        max_digits=VALUE_MAX_DIGITS, decimal_places=VALUE_DECIMAL_PLACES
    )
    value_max = models.DecimalField(
        max_digits=VALUE_MAX_DIGITS, decimal_places=VALUE_DECIMAL_PLACES
    )

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.pk}: {self.value_sum} ({self.reading_count} readings)"


class HourRollup(Rollup):
    """The readings of one channel in one UTC hour."""

    pk = models.CompositePrimaryKey("channel", "hour")
    hour = models.DateTimeField(help_text="Start of the UTC hour.")


class DayRollup(Rollup):
    """The readings of one channel in one local day of the zone RollupStatus names for days."""

    pk = models.CompositePrimaryKey("channel", "day")
    day = models.DateField()


class RollupStatus(models.Model):
    """Whether the rollups of one grain cover every reading, so that the aggregates may read
    them; `rebuild_rollups` completes them after a migration or a change of zone."""

    grain = models.CharField(
        primary_key=True, max_length=4, choices=[("hour", "hour"), ("day", "day")]
    )
    # The zone of the local days (DJANGO_TIME_ZONE when they were built); empty for hours.
    zone = models.CharField(max_length=64, blank=True)
    complete = models.BooleanField(default=False)
    # A rebuild has done the channels up to this id (it resumes after it).
    rebuilt_through = models.BigIntegerField(default=0)

    class Meta:
        verbose_name_plural = "rollup status"

    def __str__(self) -> str:
        return f"{self.grain} rollups: {'complete' if self.complete else 'incomplete'}"


def validate_zone(name: str) -> None:
    """An IANA zone name, by the rule the query parameters follow (meters.params.parse_zone)."""
    from meters.params import parse_zone  # meters.params reads this module's models

    parse_zone(name)


class Community(models.Model):
    """Units that share the energy their producers feed in, interval by interval.

    The balance (meters.communities) splits each member's consumption into energy from the
    community and from the grid, by `allocation`. A user sees a community only when granted
    every unit in it (staff: all), so no unit shows through a community to someone who may not
    read it (meters.communities.visible_communities).
    """

    class Kind(models.TextChoices):
        SITE = "site", "site (one connection point)"
        ZEV = "zev", "ZEV (self-consumption community)"
        VZEV = "vzev", "vZEV (virtual self-consumption community)"
        LEG = "leg", "LEG (local electricity community)"
        ENERGY_COMMUNITY = "energy_community", "energy community (EEG / BEG)"

    class Allocation(models.TextChoices):
        DYNAMIC = "dynamic", "dynamic: in proportion to each consumer's consumption"
        STATIC = "static", "static: fixed shares, each capped at the consumption"
        HYBRID = "hybrid", "hybrid: fixed shares first, the remainder dynamically"

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    allocation = models.CharField(
        max_length=10, choices=Allocation.choices, default=Allocation.DYNAMIC
    )
    tz = models.CharField(
        "time zone",
        max_length=64,
        default=settings.TIME_ZONE,
        validators=[validate_zone],
        help_text="IANA zone of the community's calendar (days and months of its balance).",
    )
    valid_from = models.DateTimeField(
        null=True, blank=True, help_text="First instant the community shares; blank: always."
    )
    valid_to = models.DateTimeField(
        null=True, blank=True, help_text="End of the sharing (exclusive); blank: open."
    )
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name_plural = "communities"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(valid_to__gt=models.F("valid_from"))
                | models.Q(valid_to__isnull=True)
                | models.Q(valid_from__isnull=True),
                name="community_valid_to_after_valid_from",
                violation_error_message="valid to must be later than valid from.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


# A static share is a fraction of the shared energy, 0 to 1, to the millionth.
SHARE_DECIMAL_PLACES = 6


class Member(models.Model):
    """A unit in a community: what it takes part with (its import, its export, or both) and,
    for static and hybrid allocation, its fixed share of the shared energy."""

    class Role(models.TextChoices):
        CONSUMER = "consumer", "consumer (its import counts)"
        PRODUCER = "producer", "producer (its export counts)"
        BOTH = "both", "both (import and export count)"

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="members")
    unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices)
    share = models.DecimalField(
        max_digits=SHARE_DECIMAL_PLACES + 1,
        decimal_places=SHARE_DECIMAL_PLACES,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="Static share of the shared energy, 0 to 1 (static and hybrid allocation).",
    )

    class Meta:
        ordering = ["community", "unit__muid"]
        constraints = [
            models.UniqueConstraint(fields=["community", "unit"], name="member_unique_unit"),
            models.CheckConstraint(
                condition=models.Q(share__gte=0, share__lte=1) | models.Q(share__isnull=True),
                name="member_share_between_0_and_1",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.unit.muid} ({self.role})"

    @property
    def consumes(self) -> bool:
        return self.role in (self.Role.CONSUMER, self.Role.BOTH)

    @property
    def produces(self) -> bool:
        return self.role in (self.Role.PRODUCER, self.Role.BOTH)
