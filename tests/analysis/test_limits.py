"""The analysis pages and their chart images are throttled per user, apart from the API."""

import pytest
from django.urls import reverse

from tests.conftest import CONSUMER, PRODUCER


def urls() -> list[str]:
    return [
        reverse("analysis:overview"),
        reverse("analysis:overview_chart", args=["daily"]),
        reverse("analysis:report", args=[PRODUCER.muid]),
        reverse("analysis:report_chart", args=[PRODUCER.muid, "series"]),
    ]


@pytest.mark.parametrize("url", urls(), ids=["overview", "overview chart", "report", "chart"])
def test_a_user_past_the_rate_gets_a_429_with_retry_after(
    staff_client, challenge_data, settings, url
):
    settings.ANALYSIS_THROTTLE_USER = "2/minute"

    statuses = [staff_client.get(url).status_code for _ in range(2)]
    refused = staff_client.get(url)

    assert statuses == [200, 200]
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "Too many requests to the analysis pages" in refused.content.decode()


def test_a_page_and_its_charts_share_the_users_count(staff_client, challenge_data, settings):
    settings.ANALYSIS_THROTTLE_USER = "3/minute"
    page, overview_chart, _report, chart = urls()
    for url in (page, overview_chart, chart):
        staff_client.get(url)

    assert staff_client.get(page).status_code == 429


def test_each_user_has_a_count_of_their_own_apart_from_the_api(
    challenge_data, reader_client, settings
):
    settings.ANALYSIS_THROTTLE_USER = "1/minute"
    settings.API_THROTTLE_USER = "1/minute"
    first, second = reader_client(CONSUMER.muid), reader_client(CONSUMER.muid)
    first.get(reverse("analysis:overview"))

    assert first.get(reverse("analysis:overview")).status_code == 429
    assert first.get("/api/v1/units/").status_code == 200
    assert second.get(reverse("analysis:overview")).status_code == 200


def test_an_empty_rate_turns_the_throttle_off(staff_client, challenge_data, settings):
    settings.ANALYSIS_THROTTLE_USER = None

    assert {staff_client.get(urls()[1]).status_code for _ in range(10)} == {200}
