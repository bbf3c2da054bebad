"""Charts: SVG documents whose size is the box their page reserves for them."""

import re
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import matplotlib as mpl
import pytest

from analysis import charts
from analysis.charts import Chart
from analysis.reports import build_overview, build_unit_report
from meters.models import Channel, Unit
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
    "name", ["series", "grouped", "profile", "weekday", "heatmap", "acf", "stl", "periodogram"]
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


def drawn(chart: Chart):
    """The chart's figure, drawn as for its SVG."""
    with charts.DRAWING, mpl.rc_context(charts.RC):
        fig = chart.figure()
        fig.canvas.draw()
    return fig


@pytest.fixture(scope="module")
def overview():
    from tests.analysis.conftest import recorded_series
    from tests.conftest import CONSUMER

    return build_overview(
        {
            Channel(pk=1, obis=CONSUMER.obis, unit=Unit(muid=CONSUMER.muid)): recorded_series(
                CONSUMER
            ),
            Channel(pk=2, obis=PRODUCER.obis, unit=Unit(muid=PRODUCER.muid)): recorded_series(
                PRODUCER
            ),
        },
        totals={},
        tz=ZURICH,
        start=None,
        end=None,
    )


def every_chart(report, overview) -> list[Chart]:
    return [*report.charts.values(), *overview.charts.values()]


def test_nothing_of_any_chart_is_cut_off_at_its_edges(report, overview):
    for chart in every_chart(report, overview):
        fig = drawn(chart)
        box = fig.get_tightbbox()
        width, height = fig.get_size_inches()
        assert box.x0 >= 0, chart.name
        assert box.x1 <= width, chart.name
        assert box.y0 >= 0, chart.name
        assert box.y1 <= height, chart.name


def test_the_heatmaps_colour_bar_is_labelled_inside_the_figure(report):
    fig = drawn(report.charts["heatmap"])
    colour_bar = fig.axes[-1]

    assert colour_bar.get_ylabel() == "energy per reading (kWh)"
    label = colour_bar.yaxis.label.get_window_extent()
    assert label.x1 <= fig.bbox.x1


@pytest.mark.parametrize("interval", ["hour", "day"])
def test_mean_power_is_a_zero_based_scale_of_the_energy_axis_not_a_second_series(interval):
    from tests.analysis.conftest import recorded_series

    unit = build_unit_report(
        recorded_series(PRODUCER), obis=decode(PRODUCER.obis), tz=ZURICH, interval=interval
    )
    fig = drawn(unit.charts["grouped"])
    [ax] = fig.axes

    assert ax.get_ylim()[0] == 0
    [scale] = ax.child_axes
    assert scale.get_ylabel().startswith("mean power (kW")
    hours = {"hour": 1, "day": 24}[interval]
    to_power, _to_energy = scale._functions  # matplotlib keeps the conversion there
    assert to_power(ax.get_ylim()[1]) == pytest.approx(ax.get_ylim()[1] / hours)
    # The energy only: one step line (hours) or bars (days), no line of power.
    assert len(ax.get_lines()) == (1 if interval == "hour" else 0)


def test_a_daily_bar_is_centred_in_its_day():
    from tests.analysis.conftest import recorded_series

    unit = build_unit_report(
        recorded_series(PRODUCER), obis=decode(PRODUCER.obis), tz=ZURICH, interval="day"
    )
    fig = drawn(unit.charts["grouped"])
    first = min(fig.axes[0].patches, key=lambda bar: bar.get_x())

    # 1 February 2023, local midnight, as a matplotlib date number, plus half a day.
    assert first.get_x() + first.get_width() / 2 == pytest.approx(19389 + 0.5)


def test_the_overviews_partial_last_day_is_drawn_hatched_as_partial(overview):
    fig = drawn(overview.charts["daily"])
    [ax] = fig.axes
    hatched = [bar for bar in ax.patches if bar.get_hatch()]

    # 1 March in Zurich holds the last hour of February in UTC: one partial bar per channel,
    # and 1 February (from 01:00 local) another.
    assert len(hatched) == 4
    assert {round(bar.get_x()) for bar in hatched} == {19389, 19417}
    assert "hatched bars: partial days" in ax.get_xlabel()
    assert [text.get_text() for text in ax.get_legend().get_texts()] == [
        "95ce3367 import",
        "1db7649e export",
    ]


@pytest.mark.parametrize("name", ["series", "grouped", "stl"])
def test_a_time_axis_names_the_year_not_the_month_of_its_last_tick(report, name):
    # February's ticks end on 1 March: the offset text said "2023-Mar".
    svg = report.charts[name].svg()

    assert re.findall(r">(\d{4}[^<]*)</text>", svg) == ["2023"]


def test_the_periodogram_is_drawn_with_a_day_marked(report):
    fig = drawn(report.charts["periodogram"])
    [ax] = fig.axes

    assert ax.get_xscale() == "log"
    assert "1 day" in [text.get_text() for text in ax.texts]
    assert any(text.get_text().startswith("24.0 h:") for text in ax.texts)
