"""The communities endpoints: staff create and change, members read, nobody sees a community
holding a unit they may not read; the balance as JSON and CSV, in the community's zone."""

import csv
import io
from decimal import Decimal

import pytest

from meters.models import Community, Member, Unit
from tests.conftest import CONSUMER, PRODUCER
from tests.factories import UnitFactory
from tests.meters.api.conftest import body

COMMUNITIES = "/api/v1/communities/"


def new_community(**fields) -> dict:
    return {
        "name": "What-if",
        "kind": "leg",
        "allocation": "dynamic",
        "tz": "Europe/Zurich",
        "members": [
            {"muid": str(PRODUCER.muid), "role": "producer"},
            {"muid": str(CONSUMER.muid), "role": "consumer"},
        ],
        **fields,
    }


@pytest.fixture
def community(challenge_data) -> Community:
    community = Community.objects.create(name="What-if", kind="leg", allocation="dynamic")
    Member.objects.create(
        community=community, unit=Unit.objects.get(muid=PRODUCER.muid), role="producer"
    )
    Member.objects.create(
        community=community, unit=Unit.objects.get(muid=CONSUMER.muid), role="consumer"
    )
    return community


def balance_url(community: Community, path: str = "balance/") -> str:
    return f"{COMMUNITIES}{community.pk}/{path}"


# --- Create, change, delete ---------------------------------------------------------------


def test_staff_create_a_community_with_its_members(staff_client, challenge_data):
    response = staff_client.post(COMMUNITIES, new_community(), content_type="application/json")

    assert response.status_code == 201
    answer = response.json()
    assert answer["kind"] == "leg"
    assert [(m["muid"], m["role"]) for m in answer["members"]] == [
        (str(PRODUCER.muid), "producer"),
        (str(CONSUMER.muid), "consumer"),
    ]
    assert Community.objects.get(pk=answer["id"]).members.count() == 2


def test_a_patch_with_members_replaces_the_list(staff_client, community):
    members = [{"muid": str(CONSUMER.muid), "role": "consumer", "share": "0.5"}]

    response = staff_client.patch(
        f"{COMMUNITIES}{community.pk}/",
        {"allocation": "static", "members": members},
        content_type="application/json",
    )

    assert response.status_code == 200
    assert response.json()["members"] == [
        {"muid": str(CONSUMER.muid), "role": "consumer", "share": "0.500000"}
    ]
    assert community.members.get().share == Decimal("0.5")


def test_staff_delete_a_community_and_its_units_stay(staff_client, community):
    response = staff_client.delete(f"{COMMUNITIES}{community.pk}/")

    assert response.status_code == 204
    assert not Community.objects.exists()
    assert Unit.objects.count() == 2


@pytest.mark.parametrize(
    ("fields", "parameter", "reason"),
    [
        (
            {"members": [{"muid": "not-a-muid", "role": "consumer"}]},
            "members",
            "'not-a-muid' is not a UUID.",
        ),
        (
            {"members": [{"muid": "00000000-0000-0000-0000-000000000000", "role": "consumer"}]},
            "members",
            "No unit with this muid.",
        ),
        ({"tz": "Mars/Olympus"}, "tz", "'Mars/Olympus' is not an IANA time zone name"),
        (
            {
                "allocation": "static",
                "members": [
                    {"muid": str(PRODUCER.muid), "role": "consumer", "share": "0.6"},
                    {"muid": str(CONSUMER.muid), "role": "consumer", "share": "0.5"},
                ],
            },
            "members",
            "The shares add up to 1.1",
        ),
        (
            {"members": [{"muid": str(CONSUMER.muid), "role": "consumer", "share": "0.5"}]},
            "members",
            "Dynamic allocation takes no shares",
        ),
        (
            {"valid_from": "2023-03-01T00:00:00Z", "valid_to": "2023-02-01T00:00:00Z"},
            "valid_to",
            "Must be later than valid_from.",
        ),
    ],
    ids=["bad muid", "unknown muid", "zone", "shares over 1", "dynamic share", "validity"],
)
def test_a_community_that_does_not_hold_together_is_a_400_naming_the_field(
    staff_client, challenge_data, fields, parameter, reason
):
    response = staff_client.post(
        COMMUNITIES, new_community(**fields), content_type="application/json"
    )

    assert response.status_code == 400
    assert reason in str(response.json()["errors"][parameter])


def test_a_member_may_read_but_not_change_or_create(reader_client, community):
    reader = reader_client(PRODUCER.muid, CONSUMER.muid)

    assert reader.get(f"{COMMUNITIES}{community.pk}/").status_code == 200
    changed = reader.patch(
        f"{COMMUNITIES}{community.pk}/", {"name": "mine"}, content_type="application/json"
    )
    created = reader.post(COMMUNITIES, new_community(), content_type="application/json")
    deleted = reader.delete(f"{COMMUNITIES}{community.pk}/")

    assert [changed.status_code, created.status_code, deleted.status_code] == [403, 403, 403]
    assert changed.json() == {
        "errors": {"detail": ["Only staff may create, change or delete communities."]}
    }
    assert Community.objects.get().name == "What-if"


# --- Access: nothing shows through a community ----------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["", "balance/", "balance/csv/", "members/balance/", "members/balance/csv/"],
)
def test_a_community_with_one_ungranted_unit_is_a_404_as_one_that_does_not_exist(
    reader_client, community, path
):
    reader = reader_client(CONSUMER.muid)

    response = reader.get(f"{COMMUNITIES}{community.pk}/{path}", {"interval": "month"})
    missing = reader.get(f"{COMMUNITIES}999999/{path}", {"interval": "month"})

    assert response.status_code == missing.status_code == 404
    assert (
        response.json() == missing.json() == {"errors": {"detail": ["No community with this id."]}}
    )
    assert str(PRODUCER.muid) not in body(response)


def test_the_list_holds_only_the_communities_whose_every_unit_is_granted(reader_client, community):
    other = Community.objects.create(name="Elsewhere", kind="zev")
    Member.objects.create(community=other, unit=UnitFactory(), role="consumer")
    Member.objects.create(
        community=other, unit=Unit.objects.get(muid=CONSUMER.muid), role="consumer"
    )

    both = reader_client(PRODUCER.muid, CONSUMER.muid).get(COMMUNITIES).json()
    one = reader_client(CONSUMER.muid).get(COMMUNITIES).json()

    assert [c["name"] for c in both] == ["What-if"]
    assert one == []


def test_anonymous_requests_need_a_login(client, community):
    assert client.get(COMMUNITIES).status_code == 401
    assert client.get(balance_url(community), {"interval": "day"}).status_code == 401


# --- The balance ----------------------------------------------------------------------------


def test_the_balance_of_february_in_the_communitys_zone(reader_client, community):
    reader = reader_client(PRODUCER.muid, CONSUMER.muid)

    answer = reader.get(balance_url(community), {"interval": "month"}).json()

    assert (answer["tz"], answer["allocation"], answer["interval"]) == (
        "Europe/Zurich",
        "dynamic",
        "month",
    )
    february, march = answer["buckets"]
    assert february == {
        "start": "2023-02-01T00:00:00+01:00",
        "end": "2023-03-01T00:00:00+01:00",
        "production": "36.19725",
        "consumption": "97.5612",
        "shared": "14.83605",
        "grid_import": "82.72515",
        "surplus": "21.3612",
        "unallocated": "0",
        "self_consumption": "0.409867",
        "self_sufficiency": "0.152069",
        # The data is February in UTC: it starts at 01:00 in Zurich and ends at 00:45 on 1 March.
        "count": 2684,
        "incomplete": 0,
        "expected": 2688,
    }
    assert (march["count"], march["consumption"]) == (4, "0.047")


def test_the_members_balance_is_the_table_a_bill_is_made_from(staff_client, community):
    answer = staff_client.get(
        balance_url(community, "members/balance/"),
        {"interval": "month", "tz": "UTC"},
    ).json()

    rows = {row["muid"]: row for row in answer["buckets"]}
    assert len(answer["buckets"]) == 2
    assert rows[str(CONSUMER.muid)] == {
        "muid": str(CONSUMER.muid),
        "role": "consumer",
        "start": "2023-02-01T00:00:00+00:00",
        "end": "2023-03-01T00:00:00+00:00",
        "consumption": "97.6082",
        "from_community": "14.83605",
        "from_grid": "82.77215",
        "production": "0",
        "to_community": "0",
        "to_grid": "0",
        "count": 2688,
        "missing": 0,
        "expected": 2688,
    }
    producer = rows[str(PRODUCER.muid)]
    assert (producer["production"], producer["to_community"], producer["to_grid"]) == (
        "36.19725",
        "14.83605",
        "21.3612",
    )


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("balance/csv/", {}),
        ("balance/", {"format": "csv"}),
        ("members/balance/csv/", {}),
        ("members/balance/", {"format": "csv"}),
    ],
)
def test_the_balances_come_as_csv_with_the_json_columns(staff_client, community, path, query):
    params = {"interval": "month", "tz": "UTC", **query}
    response = staff_client.get(balance_url(community, path), params)
    json_path = path.removesuffix("csv/")
    answer = staff_client.get(balance_url(community, json_path), {"interval": "month", "tz": "UTC"})

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(body(response))))
    expected = [{k: str(v) for k, v in bucket.items()} for bucket in answer.json()["buckets"]]
    assert rows == expected


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({}, "interval"),
        ({"interval": "fortnight"}, "interval"),
        ({"interval": "day", "tz": "Nowhere/Else"}, "tz"),
        ({"interval": "day", "start": "2023-03-01", "end": "2023-02-01"}, "end"),
        # 2688 quarter hours of data, against a limit of 1000 (set below).
        ({"interval": "15min", "start": "2000-01-01", "end": "2023-03-01"}, "interval"),
    ],
    ids=["no interval", "bad interval", "bad zone", "end before start", "too many buckets"],
)
def test_bad_balance_parameters_are_a_400_naming_the_parameter(
    staff_client, community, settings, query, parameter
):
    settings.API_MAX_BUCKETS = 1000
    for path in ("balance/", "balance/csv/", "members/balance/"):
        response = staff_client.get(balance_url(community, path), query)

        assert response.status_code == 400
        assert response["Content-Type"] == "application/json"
        assert parameter in response.json()["errors"]


def test_start_and_end_as_plain_dates_are_days_of_the_communitys_zone(staff_client, community):
    answer = staff_client.get(
        balance_url(community),
        {"interval": "day", "start": "2023-02-10", "end": "2023-02-12"},
    ).json()

    assert answer["start"] == "2023-02-10T00:00:00+01:00"
    assert [b["start"] for b in answer["buckets"]] == [
        "2023-02-10T00:00:00+01:00",
        "2023-02-11T00:00:00+01:00",
    ]
    assert all(b["count"] == b["expected"] == 96 for b in answer["buckets"])


def test_the_balance_takes_the_same_few_queries_whatever_the_number_of_buckets(
    staff_client, community, django_assert_max_num_queries
):
    # Login (2), the community with its members (2), the channels' span, the balance.
    with django_assert_max_num_queries(6):
        response = staff_client.get(balance_url(community), {"interval": "15min"})

    assert len(response.json()["buckets"]) == 2688
