"""The admin: units with their channels, and a read-only reading list fit for large tables."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from meters.admin import EstimatedCountPaginator, reading_key
from meters.models import Reading, Unit
from tests.conftest import CONSUMER, PRODUCER

READINGS = reverse("admin:meters_reading_changelist")


@pytest.fixture
def consumer(challenge_data):
    return Unit.objects.get(muid=CONSUMER.muid)


def test_the_unit_list_shows_channels_span_and_reading_count(admin_client, challenge_data):
    page = admin_client.get(reverse("admin:meters_unit_changelist")).content.decode()

    assert str(CONSUMER.muid) in page
    assert "1-0:1.29.0*255" in page
    assert "1-0:2.29.0*255" in page
    assert "2688" in page


def test_the_unit_page_shows_its_channels(admin_client, consumer):
    page = admin_client.get(reverse("admin:meters_unit_change", args=[consumer.pk])).content
    page = page.decode()

    assert "Active energy import (+A) per measuring period" in page
    assert "1-0:1.29.0*255" in page
    assert "2688" in page


def test_a_unit_is_found_by_its_muid(admin_client, challenge_data):
    url = reverse("admin:meters_unit_changelist")

    page = admin_client.get(url, {"q": str(PRODUCER.muid)}).content.decode()

    assert str(PRODUCER.muid) in page
    assert str(CONSUMER.muid) not in page


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"unit": str(CONSUMER.muid)},
        {"obis": CONSUMER.obis},
        {"quality": "measured"},
        {"timestamp__year": "2023", "timestamp__month": "2", "timestamp__day": "14"},
        {"q": str(PRODUCER.muid)},
        {"q": "not-a-uuid"},
    ],
    ids=["all", "unit", "obis", "quality", "day", "search", "bad-search"],
)
def test_the_reading_list_answers_every_filter(admin_client, challenge_data, query):
    response = admin_client.get(READINGS, query)

    assert response.status_code == 200


def test_filtering_by_unit_shows_only_that_unit(admin_client, challenge_data):
    response = admin_client.get(READINGS, {"unit": str(PRODUCER.muid)})

    shown = response.context["cl"].result_list
    assert shown
    assert {reading.channel.unit.muid for reading in shown} == {PRODUCER.muid}


def test_the_date_drill_down_runs_no_query_over_readings(admin_client, challenge_data):
    with CaptureQueriesContext(connection) as queries:
        admin_client.get(READINGS, {"timestamp__year": "2023"})

    table = Reading._meta.db_table
    over_time = [q for q in queries if table in q["sql"] and "DISTINCT" in q["sql"]]
    assert not [q for q in over_time if "timestamp" in q["sql"]]


def test_readings_are_read_only(admin_client, challenge_data):
    reading = Reading.objects.first()

    assert admin_client.get(reverse("admin:meters_reading_add")).status_code == 403
    page = admin_client.get(reverse("admin:meters_reading_change", args=[reading_key(reading)]))
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    delete = reverse("admin:meters_reading_delete", args=[reading_key(reading)])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert Reading.objects.filter(pk=reading.pk).exists()


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the row estimate comes from PostgreSQL"
)
def test_the_unfiltered_reading_list_does_not_count_the_table(
    admin_client, challenge_data, monkeypatch
):
    monkeypatch.setattr(EstimatedCountPaginator, "exact_below", 1)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Reading._meta.db_table}")

    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(READINGS)

    assert response.status_code == 200
    counts = [q["sql"] for q in queries if "COUNT(*)" in q["sql"].upper()]
    assert not [sql for sql in counts if Reading._meta.db_table in sql]
    assert response.context["cl"].result_count == 2 * 2688


def test_the_admin_requires_a_login(client):
    response = client.get(READINGS)

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_a_unit_is_registered_for_polling_from_the_admin(admin_client, db):
    url = reverse("admin:meters_unit_add")
    assert re.search(
        r"<input[^>]*name=\"poll_enabled\"[^>]*checked", admin_client.get(url).content.decode()
    )

    response = admin_client.post(
        url,
        {
            "muid": "5f0e8c4a-1d2b-4c3d-8e9f-0a1b2c3d4e5f",
            "poll_enabled": "on",
            "source_url": "https://meters.example.com/api",
            "poll_interval": "01:00:00",
            "next_poll_at_0": "",
            "next_poll_at_1": "",
            "channels-TOTAL_FORMS": "0",
            "channels-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    unit = Unit.objects.get(muid="5f0e8c4a-1d2b-4c3d-8e9f-0a1b2c3d4e5f")
    assert unit.poll_enabled
    assert unit.source_url == "https://meters.example.com/api"
    assert unit.poll_interval.total_seconds() == 3600


@pytest.mark.parametrize("interval", ["00:00:00", "-1 00:00:00", "00:00:30"])
def test_a_poll_interval_under_a_minute_is_refused_by_the_admin(admin_client, db, interval):
    # An interval of zero would make the unit due at every run, a negative one for ever.
    response = admin_client.post(
        reverse("admin:meters_unit_add"),
        {
            "muid": "5f0e8c4a-1d2b-4c3d-8e9f-0a1b2c3d4e5f",
            "poll_enabled": "on",
            "poll_interval": interval,
            "next_poll_at_0": "",
            "next_poll_at_1": "",
            "channels-TOTAL_FORMS": "0",
            "channels-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 200
    assert "greater than or equal to 0:01:00" in response.content.decode()
    assert not Unit.objects.exists()


def test_the_unit_page_shows_the_poll_state_read_only(admin_client, consumer):
    consumer.last_error = "HTTP 503 Service Unavailable"
    consumer.consecutive_failures = 3
    consumer.save()

    page = admin_client.get(reverse("admin:meters_unit_change", args=[consumer.pk])).content
    page = page.decode()

    assert "HTTP 503 Service Unavailable" in page
    assert 'name="last_error"' not in page
    assert 'name="muid"' not in page


def drilldown(admin_client, **query) -> list[str]:
    """The titles the reading list's date drill-down offers."""
    page = admin_client.get(READINGS, query).content.decode()
    toplinks = re.search(r'<nav class="toplinks">(.*?)</nav>', page, re.S)
    if toplinks is None:
        return []
    return re.findall(r'<a href="[^"]*">([^<]+)</a>', toplinks.group(1).replace("&lsaquo;", ""))


def test_the_date_drill_down_offers_only_the_years_of_the_readings(admin_client, challenge_data):
    assert drilldown(admin_client) == ["2023"]


def test_the_date_drill_down_offers_the_local_months_and_days_of_the_readings(
    admin_client, challenge_data
):
    # The last reading starts at 00:45 on 1 March in Zurich.
    assert drilldown(admin_client, timestamp__year="2023") == ["February 2023", "March 2023"]
    days = drilldown(admin_client, timestamp__year="2023", timestamp__month="3")
    assert days == ["March 1"]


def test_the_date_drill_down_offers_nothing_without_readings(admin_client, db):
    assert drilldown(admin_client) == []


def test_the_quality_filter_offers_only_qualities_that_readings_have(admin_client, challenge_data):
    response = admin_client.get(READINGS)
    spec = next(s for s in response.context["cl"].filter_specs if s.title == "quality")

    assert [choice["display"] for choice in spec.choices(response.context["cl"])] == [
        "All",
        "measured",
    ]


def test_the_unit_page_links_its_report_its_readings_and_its_api(admin_client, consumer):
    page = admin_client.get(reverse("admin:meters_unit_change", args=[consumer.pk])).content
    page = page.decode()

    assert f'href="/analysis/{CONSUMER.muid}/"' in page
    assert f'href="{READINGS}?unit={CONSUMER.muid}"' in page
    assert f'href="/api/v1/units/{CONSUMER.muid}/"' in page
    assert f'href="/api/v1/readings/?muid={CONSUMER.muid}"' in page


def test_the_admin_is_branded_as_the_project(admin_client):
    page = admin_client.get(reverse("admin:index")).content.decode()

    assert "Django administration" not in page
    assert "<title>Site administration | Exnaton meter data admin</title>" in page
    assert "Exnaton meter data · admin" in page


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the statistics come from PostgreSQL")
def test_a_large_tables_qualities_come_from_statistics_not_a_distinct(challenge_data, monkeypatch):
    from meters import selectors

    monkeypatch.setattr(selectors, "DISTINCT_BELOW", 1)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Reading._meta.db_table}")

    with CaptureQueriesContext(connection) as queries:
        qualities = selectors.reading_qualities()

    assert qualities == ["measured"]
    assert not [q for q in queries if "DISTINCT" in q["sql"].upper()]


@pytest.mark.parametrize(
    "query",
    [
        {"unit": "abc"},
        {"unit": "95ce3367"},
        {"obis": "zzz"},
        {"obis": "1-0:1.29"},
        {"quality": "\x00"},
        {"quality": "q" * 100},
    ],
    ids=["unit-abc", "unit-short", "obis-junk", "obis-short", "quality-nul", "quality-long"],
)
def test_a_malformed_filter_value_lists_no_reading_instead_of_failing(
    admin_client, challenge_data, query
):
    response = admin_client.get(READINGS, query)

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []


def test_the_obis_filter_takes_the_readable_code_too(admin_client, challenge_data):
    response = admin_client.get(READINGS, {"obis": "1-0:2.29.0*255"})

    shown = response.context["cl"].result_list
    assert shown
    assert {reading.channel.obis for reading in shown} == {PRODUCER.obis}
