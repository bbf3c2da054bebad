"""One set of parameter rules (meters/params.py) for the API and the analysis pages: the same
value is refused by both, with the same message, and every bad parameter is listed."""

import html
import re

import pytest
from django.urls import reverse

from tests.conftest import PRODUCER

AGGREGATE = "/api/v1/readings/aggregate/"


def page_errors(response) -> dict[str, list[str]]:
    """The (parameter, messages) of an analysis 400 page, as the API's JSON lists them."""
    errors: dict[str, list[str]] = {}
    items = re.findall(r"<li><code>(\w+)</code>: (.*?)</li>", response.content.decode())
    for field, message in items:
        errors.setdefault(field, []).append(html.unescape(message))
    return errors


def analysis_urls() -> dict[str, str]:
    return {
        "overview": reverse("analysis:overview"),
        "overview chart": reverse("analysis:overview_chart", args=["daily"]),
        "report": reverse("analysis:report", args=[PRODUCER.muid]),
        "report chart": reverse("analysis:report_chart", args=[PRODUCER.muid, "series"]),
    }


BAD_QUERIES = {
    "start far in the future": {"start": "9999-12-30"},
    "end far in the past": {"end": "0001-01-02"},
    "start in year 10000": {"start": "10000-01-01"},
    "an instant before 1970": {"start": "1969-12-31T23:59:59Z"},
    "an end before its start": {"start": "2023-02-10", "end": "2023-02-01"},
    "an inverted Etc zone": {"tz": "Etc/GMT+10"},
    "a path as a zone": {"tz": "../../etc/passwd"},
    "a date-time without offset": {"end": "2023-02-01T00:00:00"},
    "a NUL byte in a date": {"start": "2023-02-01\x00"},
}


@pytest.mark.parametrize("query", BAD_QUERIES.values(), ids=BAD_QUERIES.keys())
def test_every_analysis_endpoint_refuses_what_the_api_refuses_with_its_messages(
    staff_client, challenge_data, query
):
    api = staff_client.get(AGGREGATE, {"interval": "day", **query})
    assert api.status_code == 400
    expected = api.json()["errors"]

    for name, url in analysis_urls().items():
        response = staff_client.get(url, query)

        assert response.status_code == 400, name
        assert page_errors(response) == expected, name


def test_every_bad_parameter_is_listed_at_once_by_both(staff_client, challenge_data):
    query = {"start": "9999-12-30", "end": "0001-01-02", "tz": "Mars/Olympus", "interval": "x"}

    api = staff_client.get(AGGREGATE, query).json()["errors"]
    page = page_errors(staff_client.get(analysis_urls()["report"], query))

    assert set(api) == set(page) == {"start", "end", "tz", "interval"}
    assert {name: api[name] for name in ("start", "end", "tz")} == {
        name: page[name] for name in ("start", "end", "tz")
    }


def test_the_pages_offer_fewer_intervals_and_say_which(staff_client, challenge_data):
    response = staff_client.get(analysis_urls()["report"], {"interval": "month"})

    assert response.status_code == 400
    assert page_errors(response) == {
        "interval": ["'month' is not an interval: one of 15min, hour, day, week."]
    }
    assert staff_client.get(AGGREGATE, {"interval": "month"}).status_code == 200


@pytest.mark.parametrize("code", ["0100021D00FF", "0100021d00ff", "1-0:2.29.0*255"])
def test_a_report_takes_the_obis_code_in_either_form_as_the_api_does(
    staff_client, challenge_data, code
):
    report = staff_client.get(analysis_urls()["report"], {"channel": code})
    api = staff_client.get(AGGREGATE, {"interval": "day", "obis": code})

    assert report.status_code == 200
    assert report.context["channel"].obis == PRODUCER.obis
    assert {bucket["obis"] for bucket in api.json()["buckets"]} == {PRODUCER.obis}


def test_a_malformed_obis_code_gets_the_same_message_from_both(staff_client, challenge_data):
    page = page_errors(staff_client.get(analysis_urls()["report"], {"channel": "1-0:1.29"}))
    api = staff_client.get(AGGREGATE, {"interval": "day", "obis": "1-0:1.29"}).json()["errors"]

    assert page == {"channel": api["obis"]}
    assert api["obis"] == ["'1-0:1.29' is not an OBIS code such as 0100011D00FF or 1-0:1.29.0*255."]
