"""The community balance, computed by the database: hand-computed cases of each allocation
method, rounding that keeps the parts whole, DST days, gaps, and the challenge data's totals."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from meters.communities import community_balance, members_balance, visible_communities
from meters.models import Community, Member, Unit
from meters.selectors import Interval
from tests.conftest import CONSUMER, PRODUCER, challenge_records
from tests.factories import EXPORT, IMPORT, ChannelFactory, ReadingFactory, UnitFactory

ZURICH = ZoneInfo("Europe/Zurich")
T0 = datetime(2023, 6, 1, 10, 0, tzinfo=UTC)
STEP = timedelta(minutes=15)


def member(community, role, values, *, share=None, start=T0):
    """A new unit in `community` with one reading per quarter hour from `start` (None: none);
    its import for a consumer, its export for a producer, (import, export) pairs for both."""
    unit = UnitFactory()
    Member.objects.create(community=community, unit=unit, role=role, share=share)
    codes = {"consumer": [IMPORT], "producer": [EXPORT], "both": [IMPORT, EXPORT]}[role]
    channels = [ChannelFactory(unit=unit, obis=code) for code in codes]
    for i, value in enumerate(values):
        pair = value if role == "both" else (value,)
        for channel, part in zip(channels, pair, strict=True):
            if part is not None:
                ReadingFactory(
                    channel=channel, timestamp=start.astimezone(UTC) + i * STEP, value=Decimal(part)
                )
    return unit


def community_of(allocation="dynamic", **kwargs) -> Community:
    return Community.objects.create(name="test", kind="leg", allocation=allocation, **kwargs)


def balance(community, interval=Interval.DAY, tz=ZURICH):
    return list(community_balance(community=community, interval=interval, tz=tz))


def by_member(community, interval=Interval.DAY, tz=ZURICH):
    rows = members_balance(community=community, interval=interval, tz=tz)
    return {row.muid: row for row in rows}


def two_by_two(allocation, shares=(None, None)):
    """Consumers a (0.3 kWh) and b (0.1), producers x (0.2) and y (0.1), one quarter hour:
    P = 0.3, C = 0.4, shareable 0.3."""
    community = community_of(allocation)
    a = member(community, "consumer", ["0.3"], share=shares[0])
    b = member(community, "consumer", ["0.1"], share=shares[1])
    x = member(community, "producer", ["0.2"])
    y = member(community, "producer", ["0.1"])
    return community, {
        name: str(unit.muid) for name, unit in zip("abxy", (a, b, x, y), strict=True)
    }


@pytest.mark.django_db
def test_dynamic_allocation_splits_the_shared_energy_in_proportion_to_consumption():
    community, muid = two_by_two("dynamic")

    (day,) = balance(community)
    members = by_member(community)

    assert (day.production, day.consumption, day.shared) == (
        Decimal("0.3"),
        Decimal("0.4"),
        Decimal("0.3"),
    )
    assert (day.grid_import, day.surplus, day.unallocated) == (Decimal("0.1"), 0, 0)
    assert (day.self_consumption, day.self_sufficiency) == (Decimal(1), Decimal("0.75"))
    assert members[muid["a"]].from_community == Decimal("0.225")
    assert members[muid["a"]].from_grid == Decimal("0.075")
    assert members[muid["b"]].from_community == Decimal("0.075")
    assert members[muid["b"]].from_grid == Decimal("0.025")
    assert members[muid["x"]].to_community == Decimal("0.2")
    assert members[muid["y"]].to_community == Decimal("0.1")
    assert members[muid["x"]].to_grid == members[muid["y"]].to_grid == 0


@pytest.mark.django_db
def test_a_capped_static_share_leaves_its_rest_unallocated_not_redistributed():
    # a's 20% of 0.3 is 0.06; b's 80% is 0.24, capped at its 0.1: the 0.14 left is not given to
    # a, who still draws 0.24 from the grid.
    community, muid = two_by_two("static", shares=(Decimal("0.2"), Decimal("0.8")))

    (day,) = balance(community)
    members = by_member(community)

    assert members[muid["a"]].from_community == Decimal("0.06")
    assert members[muid["b"]].from_community == Decimal("0.1")
    assert (day.shared, day.unallocated) == (Decimal("0.16"), Decimal("0.14"))
    assert (day.grid_import, day.surplus) == (Decimal("0.24"), Decimal("0.14"))
    # Producers give the 0.16 in proportion 2:1; the micro-kWh left by rounding goes to x.
    assert members[muid["x"]].to_community == Decimal("0.106667")
    assert members[muid["y"]].to_community == Decimal("0.053333")
    assert members[muid["x"]].to_grid == Decimal("0.093333")


@pytest.mark.django_db
def test_hybrid_allocation_gives_the_fixed_shares_then_the_rest_to_those_still_drawing():
    community, muid = two_by_two("hybrid", shares=(Decimal("0.2"), Decimal("0.8")))

    (day,) = balance(community)
    members = by_member(community)

    # Fixed: a 0.06, b 0.1 (capped); the 0.14 left goes to a, the only one still drawing.
    assert members[muid["a"]].from_community == Decimal("0.2")
    assert members[muid["b"]].from_community == Decimal("0.1")
    assert (day.shared, day.unallocated, day.grid_import) == (Decimal("0.3"), 0, Decimal("0.1"))


@pytest.mark.django_db
def test_a_proportional_split_adds_up_to_the_shared_energy_to_the_last_digit():
    community = community_of("dynamic")
    consumers = [member(community, "consumer", ["0.1"]) for _ in range(3)]
    member(community, "producer", ["0.1"])

    members = by_member(community)
    parts = sorted(members[str(unit.muid)].from_community for unit in consumers)

    assert parts == [Decimal("0.033333"), Decimal("0.033333"), Decimal("0.033334")]
    assert sum(parts) == Decimal("0.1")


@pytest.mark.django_db
def test_a_member_of_role_both_counts_its_import_and_its_export():
    community = community_of("dynamic")
    prosumer = member(community, "both", [("0.1", "0.4")])
    neighbour = member(community, "consumer", ["0.3"])

    (day,) = balance(community)
    members = by_member(community)

    assert (day.production, day.consumption, day.shared) == (
        Decimal("0.4"),
        Decimal("0.4"),
        Decimal("0.4"),
    )
    assert members[str(prosumer.muid)].from_community == Decimal("0.1")
    assert members[str(prosumer.muid)].to_community == Decimal("0.4")
    assert members[str(neighbour.muid)].from_grid == 0


@pytest.mark.django_db
def test_an_interval_with_a_members_reading_missing_is_left_out_not_read_as_zero():
    community = community_of("dynamic")
    consumer = member(community, "consumer", ["0.1", None, "0.1", None])
    producer = member(community, "producer", ["0.05", "0.05", "0.05", "0.05"])

    (day,) = balance(community)
    members = by_member(community)

    assert (day.count, day.incomplete, day.expected) == (2, 2, 96)
    # The producer's export of the two incomplete quarter hours is in no figure.
    assert (day.production, day.consumption, day.shared) == (
        Decimal("0.1"),
        Decimal("0.2"),
        Decimal("0.1"),
    )
    assert members[str(consumer.muid)].missing == 2
    assert members[str(producer.muid)].missing == 0
    assert members[str(producer.muid)].production == Decimal("0.1")


@pytest.mark.django_db
def test_quarter_hours_of_the_gap_carry_their_count_and_the_others_balance():
    community = community_of("dynamic")
    member(community, "consumer", ["0.1", None])
    member(community, "producer", ["0.2", "0.2"])

    first, second = balance(community, interval=Interval.MINUTES_15)

    assert (first.count, first.incomplete, first.shared, first.surplus) == (
        1,
        0,
        Decimal("0.1"),
        Decimal("0.1"),
    )
    assert (second.count, second.incomplete, second.production) == (0, 1, 0)


@pytest.mark.django_db
def test_the_day_dst_begins_is_one_bucket_of_92_quarter_hours():
    start = datetime(2023, 3, 26, tzinfo=ZURICH)
    community = community_of("dynamic")
    member(community, "consumer", ["0.01"] * 92, start=start)
    member(community, "producer", ["0.02"] * 92, start=start)

    (day,) = balance(community)

    assert (day.start, day.end) == (start, datetime(2023, 3, 27, tzinfo=ZURICH))
    assert day.start.isoformat() == "2023-03-26T00:00:00+01:00"
    assert day.end.isoformat() == "2023-03-27T00:00:00+02:00"
    assert (day.count, day.expected, day.shared) == (92, 92, Decimal("0.92"))


@pytest.mark.django_db
def test_the_hour_repeated_when_dst_ends_is_two_buckets():
    start = datetime(2023, 10, 29, 0, 0, tzinfo=UTC)  # 02:00 CEST, the first 02:00
    community = community_of("dynamic")
    member(community, "consumer", ["0.01"] * 8, start=start)
    member(community, "producer", ["0.01"] * 8, start=start)

    hours = balance(community, interval=Interval.HOUR)

    assert [hour.start.isoformat() for hour in hours] == [
        "2023-10-29T02:00:00+02:00",
        "2023-10-29T02:00:00+01:00",
    ]
    assert [(hour.count, hour.expected) for hour in hours] == [(4, 4), (4, 4)]


@pytest.mark.django_db
def test_validity_bounds_the_readings_the_balance_reads():
    community = community_of("dynamic", valid_from=T0 + STEP, valid_to=T0 + 3 * STEP)
    member(community, "consumer", ["0.1"] * 4)
    member(community, "producer", ["0.1"] * 4)

    (day,) = balance(community)

    assert (day.count, day.shared) == (2, Decimal("0.2"))


@pytest.mark.django_db
def test_total_registers_and_other_codes_are_not_energy_per_interval():
    community = community_of("dynamic")
    unit = member(community, "consumer", ["0.1"])
    register = ChannelFactory(unit=unit, obis="0100010800FF")  # 1.8.0: counts up for years
    ReadingFactory(channel=register, timestamp=T0, value=Decimal("12345.6"))
    member(community, "producer", ["0.5"])

    (day,) = balance(community)

    assert day.consumption == Decimal("0.1")


# --- The challenge data -------------------------------------------------------------------


@pytest.fixture
def challenge_community(challenge_data):
    community = community_of("dynamic")
    Member.objects.create(
        community=community, unit=Unit.objects.get(muid=PRODUCER.muid), role="producer"
    )
    Member.objects.create(
        community=community, unit=Unit.objects.get(muid=CONSUMER.muid), role="consumer"
    )
    return community


def recorded_values(unit) -> dict[str, Decimal]:
    """The recorded values at the stored scale (the feed writes float artefacts such as
    0.17325000000000002)."""
    scale = Decimal("0.000001")
    return {
        r["timestamp"]: Decimal(str(r[unit.obis])).quantize(scale) for r in challenge_records(unit)
    }


def test_on_the_challenge_data_shared_is_the_sum_of_min_of_production_and_consumption(
    challenge_community,
):
    produced, consumed = recorded_values(PRODUCER), recorded_values(CONSUMER)
    expected = sum(min(produced[t], consumed[t]) for t in produced)

    months = balance(challenge_community, interval=Interval.MONTH, tz=ZoneInfo("UTC"))

    assert len(months) == 1
    (february,) = months
    assert february.shared == expected == Decimal("14.83605")
    assert (february.production, february.consumption) == (PRODUCER.total, CONSUMER.total)
    assert (february.count, february.expected, february.incomplete) == (2688, 2688, 0)


@pytest.mark.parametrize("interval", list(Interval))
def test_on_the_challenge_data_every_bucket_balances(challenge_community, interval):
    buckets = balance(challenge_community, interval=interval)
    members = list(members_balance(community=challenge_community, interval=interval, tz=ZURICH))

    for b in buckets:
        assert b.shared + b.grid_import == b.consumption
        assert b.shared + b.surplus == b.production
    assert sum(b.consumption for b in buckets) == CONSUMER.total
    assert sum(b.production for b in buckets) == PRODUCER.total
    assert sum(m.from_community for m in members) == sum(b.shared for b in buckets)
    assert sum(m.to_community for m in members) == sum(b.shared for b in buckets)
    assert all(m.from_community + m.from_grid == m.consumption for m in members)
    assert all(m.to_community + m.to_grid == m.production for m in members)


# --- Who sees a community -----------------------------------------------------------------


@pytest.mark.django_db
def test_a_community_is_visible_only_to_users_granted_every_unit_in_it(django_user_model):
    community = community_of("dynamic")
    first, second = UnitFactory(), UnitFactory()
    for unit in (first, second):
        Member.objects.create(community=community, unit=unit, role="consumer")
    partly = django_user_model.objects.create_user("partly")
    partly.granted_units.set([first])
    fully = django_user_model.objects.create_user("fully")
    fully.granted_units.set([first, second])
    staff = django_user_model.objects.create_user("staff", is_staff=True)

    assert list(visible_communities(user=partly)) == []
    assert list(visible_communities(user=fully)) == [community]
    assert list(visible_communities(user=staff)) == [community]
    assert list(visible_communities(user=None)) == []


@pytest.mark.django_db
def test_a_community_without_members_is_staffs_alone(django_user_model):
    community_of("dynamic")
    reader = django_user_model.objects.create_user("reader")

    assert list(visible_communities(user=reader)) == []
