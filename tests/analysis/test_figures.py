"""The analyst's figures against values computed by hand on small series, and the standard
profiles against BDEW's tables as demandlib ships them."""

from pathlib import Path

import demandlib
import numpy as np
import pandas as pd
import pytest

from analysis import forecast, load, standard_profiles
from tests.analysis.conftest import ZURICH


def quarter_hours(start: str, days: int, value: float = 0.25) -> pd.Series:
    """`days` whole local days of quarter-hours of `value` kWh (92 or 100 across DST)."""
    first = pd.Timestamp(start, tz=ZURICH)
    local = pd.date_range(first, first + pd.DateOffset(days=days), freq="15min", inclusive="left")
    return pd.Series(value, index=local.tz_convert("UTC"))


# --- Load figures ----------------------------------------------------------------------------


@pytest.fixture
def two_days() -> pd.Series:
    """1 kW flat for two local days, but 4 kW from 12:00 on day one and 0.5 kW at 03:00 on
    day two."""
    series = quarter_hours("2023-03-01", 2)
    local = series.index.tz_convert(ZURICH)
    series[local == pd.Timestamp("2023-03-01 12:00", tz=ZURICH)] = 1.0
    series[local == pd.Timestamp("2023-03-02 03:00", tz=ZURICH)] = 0.125
    return series


def test_energy_mean_peak_and_its_time(two_days):
    figures = load.load_figures(two_days, tz=ZURICH)

    assert figures.energy == pytest.approx(192 * 0.25 + 0.75 - 0.125)  # 48.625 kWh
    assert figures.mean_power == pytest.approx(48.625 / 48)
    assert figures.peak_power == 4.0
    assert figures.peak_at == pd.Timestamp("2023-03-01 12:00", tz=ZURICH)


def test_base_load_is_the_median_of_each_days_lowest_power(two_days):
    # Day one never goes below 1 kW, day two drops to 0.5 kW once: the median is 0.75.
    assert load.load_figures(two_days, tz=ZURICH).base_load == pytest.approx(0.75)


def test_load_factor_utilisation_hours_and_annual_energy(two_days):
    figures = load.load_figures(two_days, tz=ZURICH)
    mean = 48.625 / 48

    assert figures.load_factor == pytest.approx(mean / 4)
    assert figures.annual_energy == pytest.approx(mean * 8760)
    assert figures.utilisation_hours == pytest.approx(mean * 8760 / 4)


def test_peaks_per_day_and_month_with_their_local_times(two_days):
    figures = load.load_figures(two_days, tz=ZURICH)

    assert list(figures.daily_peaks["peak"]) == [4.0, 1.0]
    # A flat day peaks at its first interval.
    assert list(figures.daily_peaks["at"]) == [
        pd.Timestamp("2023-03-01 12:00", tz=ZURICH),
        pd.Timestamp("2023-03-02 00:00", tz=ZURICH),
    ]
    assert list(figures.monthly_peaks["peak"]) == [4.0]


def test_the_load_duration_curve_sorts_power_against_hours(two_days):
    duration = load.load_figures(two_days, tz=ZURICH).duration

    assert duration.iloc[0] == 4.0
    assert duration.iloc[-1] == 0.5
    assert (np.diff(duration.to_numpy()) <= 0).all()
    assert duration.index[0] == 0.25
    assert duration.index[-1] == 48.0


def test_the_day_dst_ends_is_a_whole_day_of_100_readings():
    series = quarter_hours("2023-10-28", 3)

    figures = load.load_figures(series, tz=ZURICH)

    assert len(figures.daily_peaks) == 3
    assert figures.energy == pytest.approx(0.25 * (96 + 100 + 96))


# --- Standard load profiles ------------------------------------------------------------------

BDEW_DATA = Path(demandlib.__file__).parent / "bdew" / "bdew_data"


def table_value(name: str, month: str, day_type: str, slot: str) -> float:
    """One cell of BDEW's table as demandlib ships it: kWh per quarter-hour for 1 GWh a year."""
    table = pd.read_csv(BDEW_DATA / f"{name.lower()}.csv", header=[0, 1], index_col=0)
    return float(table.loc[slot, (month, day_type)])


def dynamisation(day_of_year: int) -> float:
    """BDEW's polynomial for H25 and P25, as its 2025 guide gives it."""
    t = day_of_year
    return -3.92e-10 * t**4 + 3.2e-7 * t**3 - 7.02e-5 * t**2 + 0.0021 * t + 1.24


@pytest.mark.parametrize(
    ("name", "stamp", "month", "day_type", "slot", "dynamic"),
    [
        ("G25", "2023-02-15 12:00", "Februar", "WT", "12:00-12:15", False),
        ("G25", "2023-07-01 08:15", "Juli", "SA", "08:15-08:30", False),
        ("H25", "2023-02-19 19:45", "Februar", "FT", "19:45-20:00", True),
        ("P25", "2023-06-14 13:00", "Juni", "WT", "13:00-13:15", True),
    ],
)
def test_each_profile_value_is_the_bdew_table_cell_in_kw(
    name, stamp, month, day_type, slot, dynamic
):
    moment = pd.Timestamp(stamp, tz=ZURICH)
    expected = 4 * table_value(name, month, day_type, slot)  # kWh a quarter-hour -> kW
    if dynamic:
        expected *= dynamisation(moment.day_of_year)

    value = standard_profiles.profile_at(
        name, pd.DatetimeIndex([moment]), step=pd.Timedelta(minutes=15)
    )

    assert value[0] == pytest.approx(expected, rel=1e-9)


def test_a_unit_drawing_exactly_g25_fits_g25_with_no_error():
    local = pd.date_range("2023-02-06", periods=14 * 96, freq="15min", tz=ZURICH)
    g25 = standard_profiles.profile_at("G25", local, step=pd.Timedelta(minutes=15))
    # 20 MWh a year instead of 1 GWh: the scaling to the unit's energy takes it out.
    unit = pd.Series(g25 * 0.02 * 0.25, index=local.tz_convert("UTC"))

    result = standard_profiles.compare(unit, tz=ZURICH)

    g25_fit = next(fit for fit in result.fits if fit.name == "G25")
    assert g25_fit.error == pytest.approx(0.0, abs=1e-12)
    assert g25_fit.correlation == pytest.approx(1.0)
    assert result.best.name == "G25"
    assert g25_fit.time_of_day.sum() == pytest.approx(result.unit_time_of_day.sum())


def test_a_scaled_profile_delivers_the_units_energy_over_the_same_readings():
    unit = quarter_hours("2023-06-05", 7, value=0.1)

    result = standard_profiles.compare(unit, tz=ZURICH)

    for fit in result.fits:
        # The mean by time of day of a week of whole days, times the days, is the energy.
        assert fit.time_of_day.sum() * 7 == pytest.approx(unit.sum())
        # A flat unit: every interval off by |profile - mean|, never zero, never above 2.
        assert 0 < fit.error < 2


# --- Day-ahead forecast backtest -------------------------------------------------------------


def weekly_rhythm() -> pd.Series:
    """Three weeks from a Monday: 1 kWh an hour on weekdays, 3 on weekends, exactly."""
    series = quarter_hours("2023-01-02", 21)
    weekend = series.index.tz_convert(ZURICH).day_of_week >= 5
    series[weekend] = 0.75
    return series


def test_mase_of_the_naive_forecasts_by_hand():
    result = forecast.backtest(weekly_rhythm(), tz=ZURICH)

    # The last seven days are forecast. In-sample (days 1-13), one-day naive misses by 2 kWh
    # an hour on the two Saturdays and the Monday: 3 * 24 * 2 / (13 * 24) = 0.4615.
    # Out of sample it misses on the Monday and the Saturday: 2 * 24 * 2 / (7 * 24) = 0.5714.
    assert result.origins == 7
    assert result.mase["naive_day"] == pytest.approx((4 / 7) / (6 / 13))
    assert result.mase["naive_week"] == 0.0


def test_the_page_says_plainly_when_no_model_beats_naive():
    result = forecast.backtest(weekly_rhythm(), tz=ZURICH)

    assert result.best == "naive_week"
    assert not result.model_beats_naive
    assert "no model beats the naive baseline" in result.sentence


def test_ets_beats_naive_on_a_daily_pattern_under_noise():
    series = quarter_hours("2023-03-06", 21)
    hours = series.index.tz_convert(ZURICH).hour
    noise = np.random.default_rng(0).normal(0, 0.05, len(series))
    series = series * (1 + np.sin(np.pi * hours / 24)) + noise

    result = forecast.backtest(series, tz=ZURICH)

    assert result.model_beats_naive
    assert result.mase["ets"] < min(result.mase["naive_day"], result.mase["naive_week"])
    assert "ETS beats the naive baselines" in result.sentence


def test_less_than_eight_days_cannot_be_backtested():
    result = forecast.backtest(quarter_hours("2023-03-06", 7), tz=ZURICH)

    assert result.origins == 0
    assert result.sentence.startswith("No backtest: a backtest needs a whole local day")
