"""The overview and report pages: sections, parameter validation, caching."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.analysis.conftest import consumption_shaped, pv_shaped
from tests.conftest import CHALLENGE_UNITS, CONSUMER, PRODUCER
from tests.factories import EXPORT, IMPORT

REPORT_SECTIONS = [
    'id="quality"',
    'id="series"',
    'id="groupings"',
    'id="profiles"',
    'id="autocorrelation"',
    'id="decomposition"',
    'id="hypothesis"',
]


def report_url(muid, **query) -> str:
    url = reverse("analysis:report", args=[muid])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


@pytest.mark.parametrize("unit", CHALLENGE_UNITS, ids=["consumer", "producer"])
def test_report_of_each_challenge_unit_has_every_section(staff_client, challenge_data, unit):
    response = staff_client.get(report_url(unit.muid))

    assert response.status_code == 200
    html = response.content.decode()
    for section in REPORT_SECTIONS:
        assert section in html
    assert html.count('<img src="data:image/svg+xml;base64,') == 7


@pytest.mark.parametrize("interval", ["15min", "hour", "day", "week"])
def test_report_groups_by_the_chosen_interval(staff_client, challenge_data, interval):
    response = staff_client.get(report_url(PRODUCER.muid, interval=interval))

    assert response.status_code == 200
    assert f"Energy per {interval} (sum)" in response.content.decode()


def test_report_states_acf_values_at_one_day_and_one_week(staff_client, challenge_data):
    html = staff_client.get(report_url(PRODUCER.muid)).content.decode()

    assert "96 (one day)</td><td>0.422</td>" in html
    assert "672 (one week)</td><td>0.412</td>" in html


def test_report_hypotheses_of_the_challenge_units(staff_client, challenge_data):
    producer = staff_client.get(report_url(PRODUCER.muid)).content.decode()
    consumer = staff_client.get(report_url(CONSUMER.muid)).content.decode()

    assert "photovoltaic feed-in" in producer
    assert "consumption drawn from the grid" in consumer


def test_the_hypothesis_follows_the_data_not_the_muid(staff_client, ingest_series):
    solar = ingest_series(pv_shaped(), obis=EXPORT, muid=CONSUMER.muid)
    load = ingest_series(consumption_shaped(), obis=IMPORT, muid=PRODUCER.muid)

    assert "photovoltaic feed-in" in staff_client.get(report_url(solar)).content.decode()
    assert "consumption drawn from the grid" in staff_client.get(report_url(load)).content.decode()


def test_report_window_follows_start_and_end(staff_client, challenge_data):
    response = staff_client.get(report_url(PRODUCER.muid, start="2023-02-06", end="2023-02-13"))

    assert response.status_code == 200
    assert "<td>672 / 672 (100% complete)</td>" in response.content.decode()


def test_report_lists_missing_ranges(staff_client, ingest_series):
    series = consumption_shaped(days=3)
    muid = ingest_series(series.drop(series.index[100:104]), obis=IMPORT)

    html = staff_client.get(report_url(muid, tz="UTC")).content.decode()

    assert "4 in 1 range" in html
    start = series.index[100].strftime("%Y-%m-%d %H:%M")
    assert f"<li>{start} to" in html


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"start": "yesterday"}, "start"),
        ({"end": "2023-02-01T00:00:00"}, "end"),
        ({"tz": "Mars/Olympus_Mons"}, "tz"),
        ({"tz": "../../etc/passwd"}, "tz"),
        ({"interval": "month"}, "interval"),
        ({"start": "2023-02-10", "end": "2023-02-01"}, "end"),
        ({"start": "2020-01-01", "end": "2023-01-01"}, "end"),
        ({"channel": "not-obis"}, "channel"),
        ({"channel": "0100041D00FF"}, "channel"),
    ],
)
def test_report_rejects_bad_parameters_with_a_400_page(staff_client, challenge_data, query, field):
    response = staff_client.get(report_url(PRODUCER.muid, **query))

    assert response.status_code == 400
    assert f"<code>{field}</code>" in response.content.decode()


def test_overview_rejects_an_unknown_zone_with_a_400_page(staff_client, challenge_data):
    response = staff_client.get(reverse("analysis:overview") + "?tz=Nowhere/Else")

    assert response.status_code == 400


def test_report_of_an_unknown_unit_is_404(staff_client, challenge_data):
    response = staff_client.get(report_url("00000000-0000-0000-0000-000000000000"))

    assert response.status_code == 404


def test_overview_lists_every_unit_with_a_link_to_its_report(staff_client, challenge_data):
    html = staff_client.get(reverse("analysis:overview")).content.decode()

    for unit in CHALLENGE_UNITS:
        assert f'href="{report_url(unit.muid)}?channel={unit.obis}"' in html
    assert "97.608" in html
    assert "36.197" in html


def test_overview_compares_the_units(staff_client, challenge_data):
    html = staff_client.get(reverse("analysis:overview")).content.decode()

    assert 'id="comparison"' in html
    assert 'id="correlations"' in html
    assert "Import does not drop while export rises" in html
    assert html.count('<img src="data:image/svg+xml;base64,') == 3


def test_overview_without_units_says_how_to_load_them(staff_client, db):
    response = staff_client.get(reverse("analysis:overview"))

    assert response.status_code == 200
    assert "ingest_meters" in response.content.decode()


def without_csrf_token(html: bytes) -> bytes:
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b"", html)


def test_a_repeated_report_is_served_from_the_cache(staff_client, challenge_data):
    first = staff_client.get(report_url(PRODUCER.muid))
    with CaptureQueriesContext(connection) as queries:
        second = staff_client.get(report_url(PRODUCER.muid))

    # The logout form's CSRF token is masked anew on every page; the report is the same.
    assert without_csrf_token(second.content) == without_csrf_token(first.content)
    assert not any("meters_reading" in q["sql"] for q in queries.captured_queries)


def test_a_new_ingest_invalidates_the_cached_report(staff_client, ingest_series):
    series = consumption_shaped(days=3)
    muid = ingest_series(series.iloc[:-96], obis=IMPORT)
    before = staff_client.get(report_url(muid)).content.decode()

    ingest_series(series, obis=IMPORT, muid=muid)
    after = staff_client.get(report_url(muid)).content.decode()

    assert f"{len(series) - 96} / {len(series) - 96}" in before
    assert f"{len(series)} / {len(series)}" in after
