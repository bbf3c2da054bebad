"""The statistics agree with pandas and statsmodels on the recorded data."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.stattools import acf

from analysis import stats
from tests.analysis.conftest import ZURICH, consumption_shaped, grid, pv_shaped

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


@pytest.mark.parametrize("name", ["consumer_series", "producer_series"])
@pytest.mark.parametrize("lag", [1, 96, 672])
def test_acf_at_one_step_one_day_and_one_week_equals_statsmodels(request, name, lag):
    series = request.getfixturevalue(name)
    expected = acf(series.to_numpy(), nlags=672)[lag]

    result = stats.autocorrelation(series)

    assert result.at(lag) == pytest.approx(expected, abs=1e-9)
    assert result.marked[lag][0] == pytest.approx(expected, abs=1e-9)


def test_acf_covers_two_weeks_of_lags_at_fifteen_minutes(producer_series):
    result = stats.autocorrelation(producer_series)

    assert len(result.acf) - 1 == 2 * 672
    assert (result.per_day, result.per_week) == (96, 672)


def test_acf_reading_says_what_the_lag_of_one_day_shows_and_no_more(
    producer_series, consumer_series
):
    producer = stats.autocorrelation(producer_series).reading
    consumer = stats.autocorrelation(consumer_series).reading

    assert any(line.startswith("ACF at lag 96 (one day) is 0.42, above") for line in producer)
    assert any(line.startswith("ACF at lag 96 (one day) is -0.08 (95%") for line in consumer)
    # Whether the time of day predicts the value is daily_cycle's test.
    assert not [line for line in producer + consumer if "daily cycle" in line.lower()]


def test_the_producer_has_a_daily_cycle_beyond_any_shuffle(producer_series):
    cycle = stats.daily_cycle(producer_series, tz=ZURICH)

    assert cycle.present
    assert cycle.explained > 0.4 > cycle.baseline
    assert cycle.p_value == 1 / (stats.SHUFFLES + 1)


def test_the_consumers_profile_explains_no_more_than_shuffled_readings(consumer_series):
    cycle = stats.daily_cycle(consumer_series, tz=ZURICH)

    assert not cycle.present
    assert cycle.explained < cycle.baseline
    assert cycle.sentence.startswith("No daily cycle: the time of day explains 3.8%")


def test_noise_has_no_daily_cycle_and_a_solar_shape_has_one():
    shaped = pv_shaped(days=14)
    noise = pd.Series(np.random.default_rng(3).permutation(shaped.to_numpy()), shaped.index)

    assert stats.daily_cycle(shaped, tz=ZURICH).present
    assert not stats.daily_cycle(noise, tz=ZURICH).present


def test_the_daily_cycle_test_gives_the_same_answer_every_time(consumer_series):
    assert stats.daily_cycle(consumer_series, tz=ZURICH) == stats.daily_cycle(
        consumer_series, tz=ZURICH
    )


def test_the_stl_trend_leaves_out_its_edges_where_the_smoother_runs_out(consumer_series):
    trend = stats.decomposition(consumer_series).trend
    edge = trend.isna().to_numpy()

    # statsmodels' default trend window for a period of 96 is 185 readings: 92 either side.
    assert edge[:92].all()
    assert edge[-92:].all()
    assert not edge[92:-92].any()


def test_the_periodogram_puts_a_day_first_for_the_producer(producer_series):
    decomposition = stats.decomposition(producer_series)

    assert decomposition.periods[0][0] == 24.0
    assert decomposition.spectrum.sum() == pytest.approx(1.0)
    assert decomposition.spectrum.loc[24.0] == pytest.approx(decomposition.periods[0][1])


@pytest.mark.parametrize("name", ["consumer_series", "producer_series"])
def test_daily_totals_are_the_sums_of_local_days(request, name):
    series = request.getfixturevalue(name)
    expected = series.tz_convert(ZURICH).resample("D").sum()

    daily = stats.grouped(series, interval="day", tz=ZURICH)

    assert np.allclose(daily["energy"].to_numpy(), expected.to_numpy())
    assert daily["energy"].sum() == pytest.approx(series.sum())


def test_daily_totals_of_the_recorded_consumer_match_the_known_month(consumer_series):
    daily = stats.grouped(consumer_series, interval="day", tz=ZoneInfo("UTC"))

    assert len(daily) == 28
    assert daily["complete"].all()
    assert daily["energy"].sum() == pytest.approx(97.6082)


def test_grouping_by_hour_sums_energy_and_gives_mean_power(producer_series):
    hourly = stats.grouped(producer_series, interval="hour", tz=ZURICH)
    first_hour = producer_series.iloc[:4]

    assert hourly["energy"].iloc[0] == pytest.approx(first_hour.sum())
    assert hourly["power"].iloc[0] == pytest.approx(first_hour.mean() * 4)


def test_weeks_start_on_local_monday(producer_series):
    weekly = stats.grouped(producer_series, interval="week", tz=ZURICH)

    assert {stamp.weekday() for stamp in weekly.index} == {0}
    assert {(stamp.hour, stamp.minute) for stamp in weekly.index} == {(0, 0)}


def test_a_local_day_across_the_spring_dst_change_expects_92_readings():
    index = pd.date_range("2023-03-25", "2023-03-28", freq="15min", tz=ZURICH, inclusive="left")
    series = pd.Series(0.01, index=index.tz_convert("UTC"))

    daily = stats.grouped(series, interval="day", tz=ZURICH)

    assert daily["expected"].tolist() == [96, 92, 96]
    assert daily["complete"].all()


def test_missing_ranges_are_the_holes_punched_into_the_recorded_series(consumer_series):
    holes = [slice(10, 11), slice(200, 296), slice(1000, 1003)]
    punched = consumer_series.drop(
        consumer_series.index[np.r_[tuple(np.arange(h.start, h.stop) for h in holes)]]
    )
    full = pd.date_range(punched.index[0], punched.index[-1], freq="15min")
    absent = full.difference(punched.index)

    gaps = stats.missing_ranges(punched, interval=pd.Timedelta(minutes=15))

    assert [(g.start, g.count) for g in gaps] == [
        (consumer_series.index[h.start], h.stop - h.start) for h in holes
    ]
    assert sum(g.count for g in gaps) == len(absent)
    assert all(g.end == g.start + g.count * timedelta(minutes=15) for g in gaps)


def test_quality_counts_gaps_zeros_negatives_and_duplicates(producer_series):
    series = producer_series.drop(producer_series.index[5:8])
    series = pd.concat([series, series.iloc[[0]], pd.Series([-0.5], index=[series.index[-1]])])

    summary = stats.quality(series)

    assert summary.interval == pd.Timedelta(minutes=15)
    assert (summary.missing_count, len(summary.missing)) == (3, 1)
    assert summary.duplicates == 2
    assert summary.negatives == 1
    assert summary.zeros == int((series == 0).sum())
    assert summary.expected == 2688


def test_quality_of_the_recorded_producer(producer_series):
    summary = stats.quality(producer_series)

    assert (summary.readings, summary.missing_count, summary.duplicates) == (2688, 0, 0)
    assert summary.total == pytest.approx(36.19725)
    assert summary.maximum == pytest.approx(producer_series.max())
    assert summary.median == pytest.approx(producer_series.median())


def test_profiles_take_time_of_day_in_local_time(producer_series):
    result = stats.profiles(producer_series, tz=ZURICH)
    local = producer_series.tz_convert(ZURICH)

    assert len(result.time_of_day) == 96
    assert result.time_of_day["12:00"] == pytest.approx(
        local[local.index.hour == 12].iloc[::4].mean()
    )
    assert result.heatmap.shape == (29, 96)


def test_decomposition_finds_a_strong_daily_cycle_and_a_24_hour_period(producer_series):
    result = stats.decomposition(producer_series)

    assert result.seasonal_strength > 0.5
    assert result.periods[0][0] == pytest.approx(24.0)


def test_netting_is_seen_when_import_drops_while_export_rises():
    export = pv_shaped().rename("export")
    load = consumption_shaped().rename("import")
    # One site behind one meter: the meter sees only what is left after self-consumption.
    netted_import = (load - export).clip(lower=0)

    result = stats.netting(netted_import, export, tz=ZURICH)

    assert result.nets
    assert result.ratio < 0.5


def test_the_recorded_units_do_not_net(producer_series, consumer_series):
    result = stats.netting(consumer_series, producer_series, tz=ZURICH)

    assert not result.nets
    assert result.correlation == pytest.approx(consumer_series.corr(producer_series))


def test_correlations_of_daily_totals_leave_out_incomplete_days(producer_series, consumer_series):
    frame = pd.DataFrame({"p": producer_series, "c": consumer_series})
    days = frame.tz_convert(ZURICH).resample("D").sum().iloc[1:-1]

    per_reading, daily = stats.correlations(frame, tz=ZURICH)

    assert per_reading.loc["p", "c"] == pytest.approx(frame["p"].corr(frame["c"]))
    assert daily.loc["p", "c"] == pytest.approx(days["p"].corr(days["c"]))


def test_detect_interval_reads_the_most_common_step():
    index = grid(1)[::4]

    assert stats.detect_interval(pd.Series(1.0, index=index)) == pd.Timedelta(hours=1)
