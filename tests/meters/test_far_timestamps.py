"""Readings stored at the far ends of the calendar (by code older than the ingest's bounds)
break no page: they are left out of what the pages and the API read, and shown in UTC."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from meters import rollups
from meters.admin import reading_key
from meters.models import Reading
from tests.factories import INTERVAL, ChannelFactory

FIRST = datetime(2023, 2, 1, tzinfo=UTC)
DAYS = 3
FAR = {
    "year 9999": datetime(9999, 12, 31, 23, 45, tzinfo=UTC),
    "year 1": datetime(1, 1, 1, tzinfo=UTC),
}


@pytest.fixture(params=FAR.values(), ids=FAR.keys())
def far_channel(request, db):
    """A channel with three days of readings from 2023-02-01 and one far reading of 1000 kWh,
    its span and rollups kept as the ingest keeps them."""
    far = request.param
    channel = ChannelFactory()
    Reading.objects.bulk_create(
        Reading(channel=channel, timestamp=FIRST + i * INTERVAL, value=Decimal("0.25"))
        for i in range(DAYS * 96)
    )
    Reading.objects.create(channel=channel, timestamp=far, value=Decimal(1000))
    rollups.refresh([channel.pk])
    last = FIRST + (DAYS * 96 - 1) * INTERVAL
    channel.first_reading_at, channel.last_reading_at = min(far, FIRST), max(far, last)
    channel.reading_count = DAYS * 96 + 1
    channel.save()
    channel.far = far
    return channel


def pages(channel) -> dict[str, str]:
    muid = channel.unit.muid
    far = Reading.objects.get(channel=channel, timestamp=channel.far)
    return {
        "home": reverse("home"),
        "overview": reverse("analysis:overview"),
        "overview in New York": reverse("analysis:overview") + "?tz=America/New_York",
        "overview chart": reverse("analysis:overview_chart", args=["daily"]),
        "report": reverse("analysis:report", args=[muid]),
        "report by day": reverse("analysis:report", args=[muid]) + "?interval=day",
        "report chart": reverse("analysis:report_chart", args=[muid, "series"]),
        "aggregate without range": "/api/v1/readings/aggregate/?interval=day",
        "aggregate in New York": "/api/v1/readings/aggregate/?interval=hour&tz=America/New_York",
        "readings": "/api/v1/readings/",
        "units": "/api/v1/units/",
        "admin unit list": reverse("admin:meters_unit_changelist"),
        "admin unit page": reverse("admin:meters_unit_change", args=[channel.unit.pk]),
        "admin reading list": reverse("admin:meters_reading_changelist"),
        "admin reading page": reverse("admin:meters_reading_change", args=[reading_key(far)]),
    }


@pytest.mark.parametrize(
    "page",
    [
        "home",
        "overview",
        "overview in New York",
        "overview chart",
        "report",
        "report by day",
        "report chart",
        "aggregate without range",
        "aggregate in New York",
        "readings",
        "units",
        "admin unit list",
        "admin unit page",
        "admin reading list",
        "admin reading page",
    ],
)
def test_a_far_reading_breaks_no_page(admin_client, far_channel, page):
    response = admin_client.get(pages(far_channel)[page])

    assert response.status_code == 200


def test_the_api_leaves_a_far_reading_out(admin_client, far_channel):
    buckets = admin_client.get("/api/v1/readings/aggregate/", {"interval": "day", "tz": "UTC"})
    readings = admin_client.get("/api/v1/readings/", {"page_size": 1000}).json()

    days = [bucket["start"][:10] for bucket in buckets.json()["buckets"]]
    assert days == ["2023-02-01", "2023-02-02", "2023-02-03"]
    assert {bucket["value"] for bucket in buckets.json()["buckets"]} == {"24"}
    assert len(readings["results"]) == DAYS * 96


def test_a_report_without_range_ends_at_the_last_reading_inside_the_bounds(
    admin_client, far_channel
):
    response = admin_client.get(reverse("analysis:report", args=[far_channel.unit.muid]))

    report = response.context["report"]
    assert report.end == FIRST + timedelta(days=DAYS)
    assert report.quality.readings == DAYS * 96


def test_the_overview_totals_leave_a_far_reading_out(admin_client, far_channel):
    response = admin_client.get(reverse("analysis:overview"))

    (row,) = response.context["report"].rows
    assert row.total == pytest.approx(DAYS * 96 * 0.25)


def test_the_home_page_shows_the_far_span_as_stored(admin_client, far_channel):
    html = admin_client.get(reverse("home")).content.decode()

    assert far_channel.far.isoformat()[:10] in html
