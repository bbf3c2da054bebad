"""Charts: SVG documents whose size is the box their page reserves for them."""

import re
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import pytest

from analysis import charts
from analysis.charts import Chart
from analysis.reports import build_unit_report
from meters.obis import decode
from tests.analysis.conftest import ZURICH
from tests.conftest import PRODUCER


@pytest.fixture(scope="module")
def report():
    from tests.analysis.conftest import recorded_series

    return build_unit_report(
        recorded_series(PRODUCER), obis=decode(PRODUCER.obis), tz=ZURICH, interval="day"
    )


@pytest.mark.parametrize(
    "name", ["series", "grouped", "profile", "weekday", "heatmap", "acf", "stl"]
)
def test_the_svg_is_as_large_as_the_box_the_page_reserves(report, name):
    chart = report.charts[name]

    svg = chart.svg()

    # matplotlib writes points (72 per inch); a page reserves CSS pixels (96 per inch).
    width, height = re.search(r'<svg[^>]*width="([\d.]+)pt" height="([\d.]+)pt"', svg).groups()
    assert round(float(width) * 96 / 72) == chart.width
    assert round(float(height) * 96 / 72) == chart.height


def test_the_svg_carries_the_title_as_text(report):
    svg = report.charts["acf"].svg()

    assert "<dc:title>Autocorrelation (ACF) and partial autocorrelation (PACF)" in svg


def test_the_same_data_draws_the_same_bytes(report):
    assert report.charts["heatmap"].svg() == report.charts["heatmap"].svg()


def test_a_correlogram_is_one_line_per_panel_not_a_stem_per_lag(report):
    svg = report.charts["acf"].svg()

    lags = len(report.charts["acf"].plot.keywords["correlation"].acf)
    assert lags > 1000
    assert svg.count("<path") < 200
    assert len(svg) < 150_000


def test_an_overlay_of_time_of_day_profiles_labels_its_axis_in_local_time(report):
    profiles = report.charts["profile"].plot.keywords["profiles"]
    chart = Chart(
        name="profiles",
        title="Mean by time of day",
        alt="Mean reading by time of day.",
        plot=partial(
            charts.plot_overlay,
            lines={"a": profiles.weekday, "b": profiles.weekend},
            tz=ZURICH,
            ylabel="kWh",
        ),
    )

    assert "time of day (Europe/Zurich)" in chart.svg()


def test_charts_drawn_at_once_in_threads_are_the_charts_drawn_one_by_one(report):
    one_by_one = {name: chart.svg() for name, chart in report.charts.items()}

    with ThreadPoolExecutor(max_workers=4) as pool:
        at_once = dict(zip(one_by_one, pool.map(Chart.svg, [*report.charts.values()]), strict=True))

    assert at_once == one_by_one
