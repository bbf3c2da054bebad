"""Building a report describes its charts without drawing them; a chart is drawn later from
the report, which survives the cache's pickling."""

from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache

from analysis.charts import Chart
from analysis.reports import build_unit_report
from meters.obis import decode
from tests.conftest import PRODUCER

ZURICH = ZoneInfo("Europe/Zurich")


@pytest.fixture
def report(producer_series):
    return build_unit_report(
        producer_series, obis=decode(PRODUCER.obis), tz=ZURICH, interval="hour"
    )


def test_building_a_report_draws_no_chart(producer_series, monkeypatch):
    def refuse(chart: Chart) -> str:
        raise AssertionError(f"{chart.name} was drawn while building the report")

    monkeypatch.setattr(Chart, "svg", refuse)

    report = build_unit_report(
        producer_series, obis=decode(PRODUCER.obis), tz=ZURICH, interval="hour"
    )

    assert list(report.charts) == [
        "series",
        "grouped",
        "profile",
        "weekday",
        "heatmap",
        "acf",
        "duration",
        "standard",
        "stl",
        "periodogram",
    ]


def test_each_chart_has_a_title_and_an_alternative_text_with_its_numbers(report):
    for chart in report.charts.values():
        assert chart.title
        assert chart.alt.endswith(".")
    assert "2688 readings" in report.charts["series"].alt
    assert "lag 96: 0.42" in report.charts["acf"].alt


def test_a_report_draws_its_charts_after_a_round_trip_through_the_cache(report):
    cache.set("report", report)
    cached = cache.get("report")

    for name, chart in cached.charts.items():
        assert chart.svg() == report.charts[name].svg()


def test_a_report_with_too_few_readings_has_no_charts(producer_series):
    report = build_unit_report(
        producer_series.iloc[:1], obis=decode(PRODUCER.obis), tz=ZURICH, interval="hour"
    )

    assert report.charts == {}
