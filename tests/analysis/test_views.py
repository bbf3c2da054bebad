"""The overview and report pages and their chart images: sections, parameter validation,
caching."""

import re
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from analysis.charts import Chart
from tests.analysis.conftest import consumption_shaped, pv_shaped
from tests.conftest import CHALLENGE_UNITS, CONSUMER, PRODUCER
from tests.factories import EXPORT, IMPORT

UNIT_CHARTS = [
    "series",
    "grouped",
    "profile",
    "weekday",
    "heatmap",
    "acf",
    "stl",
    "periodogram",
    "duration",
    "standard",
]
OVERVIEW_CHARTS = ["daily", "series", "profiles"]
REPORT_SECTIONS = [
    'id="passport"',
    'id="quality"',
    'id="series"',
    'id="groupings"',
    'id="profiles"',
    'id="autocorrelation"',
    'id="decomposition"',
    'id="hypothesis"',
    'id="load"',
    'id="standard-profiles"',
    'id="forecast"',
]


def report_url(muid, **query) -> str:
    url = reverse("analysis:report", args=[muid])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def chart_url(muid, name: str, **query) -> str:
    url = reverse("analysis:report_chart", args=[muid, name])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def images(html: str) -> list[dict[str, str]]:
    """The attributes of each <img> of a page."""
    return [dict(re.findall(r'(\w+)="([^"]*)"', tag)) for tag in re.findall(r"<img\s[^>]*>", html)]


@pytest.fixture
def drawings(monkeypatch) -> list[str]:
    """The names of the charts drawn from here on, in order."""
    drawn = []
    draw = Chart.svg

    def counted(chart: Chart) -> str:
        drawn.append(chart.name)
        return draw(chart)

    monkeypatch.setattr(Chart, "svg", counted)
    return drawn


@pytest.mark.parametrize("unit", CHALLENGE_UNITS, ids=["consumer", "producer"])
def test_report_of_each_challenge_unit_has_every_section(staff_client, challenge_data, unit):
    response = staff_client.get(report_url(unit.muid))

    assert response.status_code == 200
    html = response.content.decode()
    for section in REPORT_SECTIONS:
        assert section in html
    assert len(images(html)) == len(UNIT_CHARTS)


def test_report_page_shows_each_chart_as_an_image_from_its_chart_url(
    staff_client, challenge_data, drawings
):
    html = staff_client.get(report_url(PRODUCER.muid, interval="day")).content.decode()

    shown = images(html)
    assert [img["src"].split("?")[0] for img in shown] == [
        chart_url(PRODUCER.muid, name) for name in UNIT_CHARTS
    ]
    for img in shown:
        assert "interval=day" in img["src"]
        assert img["alt"].strip()
        assert img["title"].strip()
        assert int(img["width"]) > 0
        assert int(img["height"]) > 0
    assert html.count("<figcaption>") == len(UNIT_CHARTS)
    assert drawings == []  # the page itself draws nothing


@pytest.mark.parametrize("name", UNIT_CHARTS)
def test_each_chart_of_the_report_is_an_svg_image(staff_client, challenge_data, name):
    response = staff_client.get(chart_url(PRODUCER.muid, name))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert response.content.lstrip().startswith(b"<?xml")
    assert b"</svg>" in response.content
    cache_control = response["Cache-Control"]
    assert "private" in cache_control
    assert "max-age=" in cache_control


def test_every_image_the_page_shows_loads(staff_client, challenge_data):
    html = staff_client.get(report_url(CONSUMER.muid, tz="UTC")).content.decode()

    for img in images(html):
        response = staff_client.get(img["src"].replace("&amp;", "&"))
        assert response.status_code == 200, img["src"]
        assert response["Content-Type"] == "image/svg+xml"


def test_a_net_channel_gets_its_page_every_chart_and_a_net_verdict(staff_client, ingest_series):
    # Import less export of one site (1-0:16.29.0): negative while its panels lead.
    net = consumption_shaped(days=7) - pv_shaped(days=7)
    muid = ingest_series(net, obis="0100101D00FF")

    html = unescape(staff_client.get(report_url(muid)).content.decode())

    assert "a net flow, import less export" in html
    shown = images(html)
    assert len(shown) == len(UNIT_CHARTS)
    for img in shown:
        response = staff_client.get(img["src"])
        assert response.status_code == 200, img["src"]
        assert b"</svg>" in response.content


def test_a_chart_follows_the_page_parameters(staff_client, challenge_data):
    by_day = staff_client.get(chart_url(PRODUCER.muid, "grouped", interval="day")).content
    by_week = staff_client.get(chart_url(PRODUCER.muid, "grouped", interval="week")).content

    assert b"energy per day (kWh, sum)" in by_day
    assert b"energy per week (kWh, sum)" in by_week


@pytest.mark.parametrize("name", ["nothing", "Series", "series.png"])
def test_an_unknown_chart_is_404(staff_client, challenge_data, name):
    url = reverse("analysis:report", args=[PRODUCER.muid]) + f"charts/{name}.svg"

    assert staff_client.get(url).status_code == 404


def test_the_decomposition_chart_of_a_report_without_one_is_404(staff_client, ingest_series):
    muid = ingest_series(consumption_shaped(days=1), obis=IMPORT)

    assert staff_client.get(chart_url(muid, "series")).status_code == 200
    assert staff_client.get(chart_url(muid, "stl")).status_code == 404
    assert staff_client.get(chart_url(muid, "periodogram")).status_code == 404


def test_a_chart_of_an_unknown_unit_is_404(staff_client, challenge_data):
    response = staff_client.get(chart_url("00000000-0000-0000-0000-000000000000", "series"))

    assert response.status_code == 404


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"start": "yesterday"}, "start"),
        ({"tz": "Mars/Olympus_Mons"}, "tz"),
        ({"interval": "month"}, "interval"),
        ({"start": "2020-01-01", "end": "2023-01-01"}, "end"),
        ({"channel": "0100041D00FF"}, "channel"),
    ],
)
def test_a_chart_rejects_bad_parameters_with_a_400(staff_client, challenge_data, query, field):
    response = staff_client.get(chart_url(PRODUCER.muid, "series", **query))

    assert response.status_code == 400
    assert f"<code>{field}</code>" in response.content.decode()


def test_a_repeated_chart_is_served_from_the_cache_without_drawing(
    staff_client, challenge_data, drawings
):
    first = staff_client.get(chart_url(PRODUCER.muid, "acf"))
    with CaptureQueriesContext(connection) as queries:
        second = staff_client.get(chart_url(PRODUCER.muid, "acf"))

    assert drawings == ["acf"]
    assert second.content == first.content
    assert not any("meters_reading" in q["sql"] for q in queries.captured_queries)


def test_charts_are_drawn_from_the_cached_report_without_reading_again(
    staff_client, challenge_data, drawings
):
    staff_client.get(report_url(PRODUCER.muid))
    with CaptureQueriesContext(connection) as queries:
        for name in UNIT_CHARTS:
            assert staff_client.get(chart_url(PRODUCER.muid, name)).status_code == 200

    assert drawings == UNIT_CHARTS
    assert not any("meters_reading" in q["sql"] for q in queries.captured_queries)


def test_chart_urls_change_when_the_data_does(staff_client, ingest_series):
    series = consumption_shaped(days=3)
    muid = ingest_series(series.iloc[:-96], obis=IMPORT)
    before = images(staff_client.get(report_url(muid)).content.decode())

    ingest_series(series, obis=IMPORT, muid=muid)
    after = images(staff_client.get(report_url(muid)).content.decode())

    # A browser may keep a chart image: its URL names the data it was drawn from.
    assert {img["src"] for img in before}.isdisjoint(img["src"] for img in after)


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
    assert "household consumption drawn from the grid" in consumer


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
    assert [img["src"].split("?")[0] for img in images(html)] == [
        reverse("analysis:overview_chart", args=[name]) for name in ("daily", "profiles", "series")
    ]
    assert all(img["alt"].strip() for img in images(html))


@pytest.mark.parametrize("name", OVERVIEW_CHARTS)
def test_each_chart_of_the_overview_is_an_svg_image(staff_client, challenge_data, name):
    response = staff_client.get(reverse("analysis:overview_chart", args=[name]))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert "private" in response["Cache-Control"]
    assert str(PRODUCER.muid)[:8].encode() in response.content


def test_an_unknown_overview_chart_is_404(staff_client, challenge_data):
    assert staff_client.get(reverse("analysis:overview_chart", args=["acf"])).status_code == 404


def test_an_overview_chart_rejects_an_unknown_zone_with_a_400(staff_client, challenge_data):
    url = reverse("analysis:overview_chart", args=["daily"]) + "?tz=Nowhere/Else"

    assert staff_client.get(url).status_code == 400


def test_a_repeated_overview_chart_is_served_from_the_cache(staff_client, challenge_data, drawings):
    url = reverse("analysis:overview_chart", args=["daily"])
    staff_client.get(url)
    staff_client.get(url)

    assert drawings == ["daily"]


def test_a_fleets_overview_shows_a_page_of_units_by_muid_and_links_to_the_next(
    staff_client, challenge_data, settings
):
    settings.ANALYSIS_OVERVIEW_UNITS = 1  # the producer's muid sorts first
    overview = reverse("analysis:overview")

    first = unescape(staff_client.get(overview + "?tz=UTC").content.decode())
    second = unescape(staff_client.get(overview + "?tz=UTC&page=2").content.decode())

    assert str(PRODUCER.muid) in first
    assert str(CONSUMER.muid) not in first
    assert str(CONSUMER.muid) in second
    assert str(PRODUCER.muid) not in second
    assert "Units 1 to 1 of 2 (page 1 of 2" in first
    assert f'href="{overview}?tz=UTC&page=2" rel="next"' in first
    assert f'href="{overview}?tz=UTC&page=1" rel="prev"' in second
    assert 'rel="next"' not in second
    # Each chart is drawn from the units of the page that shows it.
    assert all("page=2" in img["src"] for img in images(second))


def test_an_overview_chart_draws_the_units_of_its_page(staff_client, challenge_data, settings):
    settings.ANALYSIS_OVERVIEW_UNITS = 1
    chart = reverse("analysis:overview_chart", args=["daily"])

    svg = staff_client.get(chart + "?page=2").content

    assert str(CONSUMER.muid)[:8].encode() in svg
    assert str(PRODUCER.muid)[:8].encode() not in svg


@pytest.mark.parametrize("page", ["3", "0", "one"])
def test_an_overview_page_that_does_not_exist_is_a_400_naming_page(
    staff_client, challenge_data, settings, page
):
    settings.ANALYSIS_OVERVIEW_UNITS = 1

    for url in (reverse("analysis:overview"), reverse("analysis:overview_chart", args=["daily"])):
        response = staff_client.get(f"{url}?page={page}")

        assert response.status_code == 400
        assert "<code>page</code>" in response.content.decode()


def test_overview_without_units_says_how_to_load_them(staff_client, db):
    response = staff_client.get(reverse("analysis:overview"))

    assert response.status_code == 200
    assert "ingest_meters" in response.content.decode()


def without_per_request_tokens(html: bytes) -> bytes:
    """The page without its logout form's CSRF token and its styles' CSP nonce."""
    html = re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b"", html)
    return re.sub(rb'nonce="[^"]*"', b"", html)


def test_a_repeated_report_is_served_from_the_cache(staff_client, challenge_data):
    first = staff_client.get(report_url(PRODUCER.muid))
    with CaptureQueriesContext(connection) as queries:
        second = staff_client.get(report_url(PRODUCER.muid))

    # The CSRF token is masked anew on every page, the nonce is new; the report is the same.
    assert without_per_request_tokens(second.content) == without_per_request_tokens(first.content)
    assert not any("meters_reading" in q["sql"] for q in queries.captured_queries)


def test_a_new_ingest_invalidates_the_cached_report(staff_client, ingest_series):
    series = consumption_shaped(days=3)
    muid = ingest_series(series.iloc[:-96], obis=IMPORT)
    before = staff_client.get(report_url(muid)).content.decode()

    ingest_series(series, obis=IMPORT, muid=muid)
    after = staff_client.get(report_url(muid)).content.decode()

    assert f"{len(series) - 96} / {len(series) - 96}" in before
    assert f"{len(series)} / {len(series)}" in after


def test_the_consumers_report_says_no_daily_cycle_everywhere_with_the_test_that_decides(
    staff_client, challenge_data
):
    html = unescape(staff_client.get(report_url(CONSUMER.muid)).content.decode())

    assert "No daily cycle: the time of day explains 3.8% of the readings' variance" in html
    assert "p = 0.320" in html
    # STL's strength of 0.30 beside it is said not to be a test of a cycle.
    assert "so this strength is not a test of a cycle: the test above finds none" in html
    assert "the time of day predicts the value" not in html
    assert "the time of day does not predict" not in html


def test_the_producers_report_finds_a_daily_cycle_and_stl_agrees(staff_client, challenge_data):
    html = unescape(staff_client.get(report_url(PRODUCER.muid)).content.decode())

    assert "Daily cycle: the time of day explains 43.2% of the readings' variance" in html
    assert "It agrees with the test above" in html
    assert "No daily cycle" not in html


def test_each_page_leads_with_the_units_passport(staff_client, challenge_data):
    html = staff_client.get(report_url(CONSUMER.muid)).content.decode()

    assert html.index('id="passport"') < html.index('id="quality"')
    assert 'id="passport-kind" data-kind="household"' in html
    assert "3.84 kW at Mon 2023-02-20 16:00" in html
    assert "0.046 kW" in html


def test_the_overview_compares_every_visible_unit_on_the_passport(reader_client, challenge_data):
    reader = reader_client(PRODUCER.muid)

    html = reader.get(reverse("analysis:overview")).content.decode()

    passports = html[html.index('id="passports"') :]
    assert 'data-kind="pv"' in passports
    assert 'data-kind="household"' not in passports  # the consumer is not this user's
    assert "G25 (119%)" in passports
