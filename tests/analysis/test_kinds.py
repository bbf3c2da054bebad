"""The hypothesis of what a unit measures holds on every kind of unit, not just the two recorded.

Each synthetic kind (analysis/synthetic.py) is generated with several seeds, in different
months, with and without gaps; the verdict must name its kind. docs/EDA.md gives the accuracy
over the larger set that export_report's --accuracy prints.
"""

import numpy as np
import pandas as pd
import pytest

from analysis import kinds, synthetic
from analysis.kinds import Kind
from analysis.stats import daily_cycle
from meters.obis import Direction
from tests.analysis.conftest import ZURICH, consumption_shaped, pv_shaped

CASES = synthetic.cases(seeds=4)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.kind}-{c.seed}-{c.start}-gaps{c.gaps}")
def test_every_synthetic_kind_is_named(case):
    result = kinds.verdict(case.series(), tz=ZURICH)

    assert result.kind is synthetic.EXPECTED[case.kind]


def test_the_evaluation_set_covers_every_kind_in_several_months_with_and_without_gaps():
    for kind in synthetic.GENERATORS:
        mine = [case for case in CASES if case.kind == kind]
        assert len({case.start for case in mine}) >= 2
        assert {case.gaps for case in mine} == {True, False}


def test_the_recorded_consumer_is_household_consumption_and_the_producer_pv_feed_in(
    consumer_series, producer_series
):
    consumer = kinds.verdict(consumer_series, tz=ZURICH, direction=Direction.IMPORT)
    producer = kinds.verdict(producer_series, tz=ZURICH, direction=Direction.EXPORT)

    assert consumer.kind is Kind.HOUSEHOLD
    assert consumer.headline == "household consumption drawn from the grid"
    assert producer.kind is Kind.PV
    assert producer.headline == "photovoltaic feed-in: solar generation exported to the grid"
    assert consumer.confidence_word == producer.confidence_word == "high"
    assert producer.feature("dark_share") < 1e-4
    assert producer.feature("bell_r") > 0.95


def test_a_workplace_charger_is_ev_charging_not_generation():
    # 11 kW blocks on weekday mornings, nothing at night: what the old thresholds called PV.
    charger = synthetic.unit("ev_work", seed=7, start="2023-05-01")

    result = kinds.verdict(charger, tz=ZURICH, direction=Direction.IMPORT)

    assert result.kind is Kind.EV
    assert "workplace" in result.headline
    assert result.feature("step_share") > 0.8  # switched on at full power at once
    assert result.feature("weekend_ratio") < 0.1
    assert result.scores[Kind.PV] == 0.0


def test_a_load_that_is_off_by_day_and_on_by_night_is_a_night_load():
    storage_heater = synthetic.unit("night_only", seed=0, start="2023-11-01")

    result = kinds.verdict(storage_heater, tz=ZURICH, direction=Direction.IMPORT)

    assert result.kind is Kind.NIGHT
    assert result.feature("day_zero_share") > 0.85


def test_zero_import_middays_are_a_prosumer_not_a_gap_in_consumption():
    result = kinds.verdict(synthetic.unit("prosumer", seed=2, start="2023-07-01"), tz=ZURICH)

    assert result.kind is Kind.PROSUMER
    assert result.feature("noon_zero_share") > 0.5
    assert result.feature("dark_zero_share") < 0.1


def test_pv_output_widens_with_the_day_from_december_to_june():
    december = kinds.verdict(synthetic.unit("pv", seed=1, start="2023-12-01"), tz=ZURICH)
    june = kinds.verdict(synthetic.unit("pv", seed=1, start="2023-06-01"), tz=ZURICH)

    assert december.kind is june.kind is Kind.PV
    # The same share of a day that is seven hours longer in June.
    assert december.feature("width_ratio") == pytest.approx(june.feature("width_ratio"), abs=0.2)


def test_a_wind_turbine_is_weather_driven_generation_not_a_load_on_an_export_channel():
    turbine = synthetic.unit("wind", seed=5, start="2023-10-01")

    result = kinds.verdict(turbine, tz=ZURICH, direction=Direction.EXPORT)

    assert result.kind is Kind.WIND
    assert result.headline == "wind or other weather-driven generation fed into the grid"
    assert result.confidence_word == "high"
    # Day and night alike, with no clock: the report's own test finds no daily cycle.
    assert not result.cycle.present
    assert result.feature("cycle_excess") == result.cycle.explained - result.cycle.baseline < 0
    assert result.feature("dark_share") > 0.3
    assert result.scores[Kind.HOUSEHOLD] == 0.0


def test_a_steady_flow_on_an_export_channel_is_near_constant_generation():
    steady = synthetic.unit("constant", seed=3)

    exported = kinds.verdict(steady, tz=ZURICH, direction=Direction.EXPORT)
    imported = kinds.verdict(steady, tz=ZURICH, direction=Direction.IMPORT)

    assert exported.kind is imported.kind is Kind.CONSTANT
    assert exported.headline.startswith("near-constant generation fed into the grid")
    assert imported.headline == "a near-constant load drawn from the grid"


def test_a_net_flow_is_read_by_its_import_and_says_what_it_fed_in():
    # A site's household less its PV, as one net meter: negative while the panels lead.
    net = synthetic.unit("household", seed=3) - synthetic.unit("pv", seed=3)
    imported = kinds.verdict(net.clip(lower=0), tz=ZURICH)

    result = kinds.verdict(net, tz=ZURICH)

    assert result.kind is imported.kind is Kind.PROSUMER
    fed_in = -net[net < 0].sum() / net.abs().sum()
    assert result.headline == (
        f"a net flow, import less export ({fed_in:.0%} of the energy, in the negative "
        f"readings, was fed in); its import: {imported.headline}"
    )
    # The report describes the series it shows: its daily-cycle test is the net flow's own.
    assert result.cycle == daily_cycle(net, tz=ZURICH) != imported.cycle


def test_a_meters_noise_around_zero_is_no_net_flow():
    load = synthetic.unit("household", seed=3)
    noisy = load.where(load > 0.02, -0.0001)

    assert kinds.verdict(noisy, tz=ZURICH).headline == kinds.verdict(load, tz=ZURICH).headline


def test_the_shape_decides_and_the_obis_direction_only_annotates():
    result = kinds.verdict(pv_shaped(), tz=ZURICH, direction=Direction.IMPORT)

    assert result.kind is Kind.PV
    assert "on an import channel" in result.headline


def test_the_simple_test_shapes_are_pv_and_household():
    assert kinds.verdict(pv_shaped(), tz=ZURICH).kind is Kind.PV
    assert kinds.verdict(consumption_shaped(), tz=ZURICH).kind is Kind.HOUSEHOLD


def test_a_close_call_names_the_runner_up_and_says_low_confidence():
    # A week with gaps: two weekend days cannot tell a household's habits from an office's.
    result = kinds.verdict(
        synthetic.unit("household", seed=103, start="2023-04-03", days=7, gaps=True), tz=ZURICH
    )

    assert {result.kind, result.runner_up} == {Kind.HOUSEHOLD, Kind.COMMERCIAL}
    assert result.confidence_word == "low"


def test_two_days_are_undetermined_and_say_what_is_missing():
    result = kinds.verdict(synthetic.unit("household", seed=0, days=2), tz=ZURICH)

    assert result.kind is Kind.UNDETERMINED
    assert result.missing.startswith("2 whole local days")
    assert "at least 3" in result.missing


def test_a_series_mostly_gaps_is_undetermined_for_its_completeness():
    series = synthetic.unit("household", seed=0, days=28)
    sparse = series[np.arange(len(series)) % 96 < 30]  # a third of each day

    result = kinds.verdict(pd.concat([sparse, series.iloc[-4 * 96 :]]), tz=ZURICH)

    assert result.kind is Kind.UNDETERMINED
    assert "of the readings between the first and the last are present" in result.missing


def test_readings_that_vary_at_random_are_undetermined_and_say_why():
    index = synthetic.unit("household", seed=0).index
    noise = pd.Series(np.random.default_rng(7).uniform(0, 0.5, len(index)), index=index)

    result = kinds.verdict(noise, tz=ZURICH)

    assert result.kind is Kind.UNDETERMINED
    assert result.missing.startswith("no shape to read: a reading says nothing about the next")
    assert not result.cycle.present


def test_a_steady_load_with_random_noise_is_still_a_near_constant_load():
    index = synthetic.unit("household", seed=0).index
    steady = pd.Series(np.random.default_rng(7).normal(1.0, 0.02, len(index)), index=index)

    assert kinds.verdict(steady, tz=ZURICH).kind is Kind.CONSTANT


def test_a_series_of_zeros_is_undetermined():
    series = synthetic.unit("household", seed=0, days=5) * 0

    assert "every reading is zero" in kinds.verdict(series, tz=ZURICH).missing


def test_a_ramp_runs_linearly_either_way_and_a_missing_feature_is_neutral():
    assert kinds.ramp(0.5, 0.0, 1.0) == 0.5
    assert kinds.ramp(0.02, 0.03, 0.01) == pytest.approx(0.5)
    assert kinds.ramp(5.0, 0.0, 1.0) == 1.0
    assert kinds.ramp(float("nan"), 0.0, 1.0) == 1.0


def test_every_rule_names_a_feature_with_its_reason():
    for rules in kinds.RULES.values():
        for rule in rules:
            for name, zero_at, one_at in rule if isinstance(rule[0], tuple) else [rule]:
                assert name in kinds.FEATURES
                assert zero_at != one_at


def test_of_two_alternative_rules_the_better_one_counts():
    either = (("step_share", 0.4, 0.6), ("cycle_excess", 0.0, 0.04))

    assert kinds.membership({"step_share": 0.5, "cycle_excess": -0.1}, either) == pytest.approx(0.5)
    assert kinds.membership({"step_share": 0.1, "cycle_excess": 0.03}, either) == pytest.approx(
        0.75
    )
    assert kinds.membership({"step_share": 0.1, "cycle_excess": -0.1}, either) == 0.0


def test_a_household_smoothed_by_hourly_readings_is_still_a_household_by_its_daily_cycle():
    quarter_hours = synthetic.unit("household", seed=4, start="2023-03-01")
    hourly = quarter_hours.resample("1h").sum()

    result = kinds.verdict(hourly, tz=ZURICH, direction=Direction.IMPORT)

    assert result.kind is Kind.HOUSEHOLD
    assert result.cycle.present
    assert result.confidence_word == "high"
