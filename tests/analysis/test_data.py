"""What the analysis reads from a channel's readings: the energy of each interval, and of which
quantity (active, reactive, apparent), in that quantity's units."""

import numpy as np
import pandas as pd
import pytest

from analysis.data import channel_series, channel_totals, interval_energy
from analysis.kinds import Kind, verdict
from meters.models import Channel
from meters.obis import Measure, Quantity
from tests.analysis.conftest import ZURICH, grid

REGISTER = "0100010800FF"


def test_energy_per_measuring_period_is_read_as_it_is(consumer_series):
    assert interval_energy(consumer_series, measure=Measure.PER_PERIOD) is consumer_series


def test_a_register_gives_the_rise_from_each_reading_to_the_next(consumer_series):
    register = 1000 + consumer_series.cumsum().shift(1, fill_value=0.0)

    energy = interval_energy(register, measure=Measure.REGISTER)

    # The last reading has no next: its interval's energy is not known.
    pd.testing.assert_series_equal(
        energy, consumer_series.iloc[:-1], check_names=False, check_freq=False, atol=1e-9
    )


def test_a_register_leaves_out_a_rise_across_missing_readings_and_a_reset():
    index = grid(days=1)[:6]
    register = pd.Series([10.0, 10.5, 11.0, 2.0, 2.5, 3.5], index=index)

    energy = interval_energy(register.drop(index[1]), measure=Measure.REGISTER)

    # 10.0 -> 11.0 spans two intervals and 11.0 -> 2.0 goes back: neither is an interval's.
    assert energy.to_dict() == {index[3]: 0.5, index[4]: 1.0}


def test_power_times_the_step_gives_each_interval_energy():
    index = grid(days=1)[:4]
    power = pd.Series([2.0, 4.0, 0.0, 1.0], index=index)  # kW, every 15 minutes

    assert interval_energy(power, measure=Measure.POWER).tolist() == [0.5, 1.0, 0.0, 0.25]


def test_a_register_of_the_consumer_is_read_as_the_consumer(consumer_series):
    register = 5000 + consumer_series.cumsum()

    energy = interval_energy(register, measure=Measure.REGISTER)

    assert verdict(energy, tz=ZURICH).kind == verdict(consumer_series, tz=ZURICH).kind
    # Read as energy per interval, the same counter is a steady rise: no load's shape, and the
    # verdict says what it looks like.
    raw = verdict(register, tz=ZURICH)
    assert raw.kind is Kind.UNDETERMINED
    assert raw.missing.startswith("the readings only rise")


@pytest.fixture
def register_channel(ingest_series):
    """A unit whose meter sends its total import register (1-0:1.8.0), ingested: (channel,
    the rise of each interval, the counts)."""
    index = grid(days=2)
    rises = np.round(np.random.default_rng(3).uniform(0, 0.2, len(index)), 4)
    counts = np.round(100 + np.concatenate([[0.0], np.cumsum(rises[:-1])]), 4)
    muid = ingest_series(pd.Series(counts, index=index), obis=REGISTER)
    return Channel.objects.get(unit__muid=muid), rises, counts


def test_a_register_channel_is_stored_as_counted_and_analysed_as_energy(register_channel):
    channel, rises, counts = register_channel

    series = channel_series(channel=channel)

    assert channel.readings.count() == len(counts)
    np.testing.assert_allclose(series.to_numpy(), rises[:-1], atol=1e-9)
    assert channel_totals([channel]) == {channel.pk: pytest.approx(counts[-1] - counts[0])}


def test_the_report_of_a_register_says_how_it_was_read(client, admin_user, register_channel):
    channel, rises, _ = register_channel
    client.force_login(admin_user)

    page = client.get(f"/analysis/{channel.unit.muid}/").content.decode()

    assert "The channel is a total register" in page
    assert f"{len(rises) - 1} readings" in page


def test_the_profile_api_says_what_the_readings_are(client, admin_user, register_channel):
    channel, _, _ = register_channel
    client.force_login(admin_user)

    answer = client.get(f"/api/v1/units/{channel.unit.muid}/profile/").json()

    assert answer["measure"] == "total register"
    assert answer["passport"]["energy_kwh"] == pytest.approx(
        float(channel_series(channel=channel).sum())
    )


def test_a_power_channel_is_analysed_as_energy_and_totalled_over_its_span(ingest_series):
    power = pd.Series(2.0, index=grid(days=1))  # kW, every 15 minutes for a day
    muid = ingest_series(power, obis="0100010700FF")
    channel = Channel.objects.get(unit__muid=muid)

    assert channel_series(channel=channel).eq(0.5).all()
    assert channel_totals([channel]) == {channel.pk: pytest.approx(2.0 * 0.25 * 96)}


REACTIVE = "0100031D00FF"  # 1-0:3.29.0, reactive energy import per measuring period


@pytest.fixture
def reactive_unit(ingest_series, consumer_series):
    """The recorded consumer's active import, and a reactive import beside it (a third of it,
    with its own noise), as one unit through the real ingest."""
    noise = np.random.default_rng(3).uniform(0, 0.002, len(consumer_series))
    muid = ingest_series(consumer_series, obis="0100011D00FF")
    ingest_series((consumer_series * 0.35 + noise).round(4), obis=REACTIVE, muid=muid)
    return muid


def test_a_reactive_channel_is_not_given_a_kind_and_says_why(consumer_series):
    reactive = verdict(consumer_series * 0.35, tz=ZURICH, quantity=Quantity.REACTIVE)

    assert reactive.kind is Kind.UNDETERMINED
    assert reactive.missing.startswith("the channel counts reactive energy (kvarh)")
    # Its shape is still read, for the report's sentences and the features table.
    assert reactive.cycle is not None
    assert {feature.name for feature in reactive.features} >= {"dark_share", "base_ratio"}


def test_the_report_of_a_reactive_channel_speaks_in_its_units(client, admin_user, reactive_unit):
    client.force_login(admin_user)

    page = client.get(f"/analysis/{reactive_unit}/?channel={REACTIVE}").content.decode()

    assert "undetermined: the channel counts reactive energy" in page
    assert "kvarh in the window" in page
    assert " kvar at " in page  # the peak
    assert "kWh" not in page
    assert 'id="standard-profiles"' not in page  # BDEW's profiles are of active energy


def test_the_overview_gives_each_channel_its_units_and_nets_only_active_energy(
    client, admin_user, reactive_unit
):
    client.force_login(admin_user)

    page = client.get("/analysis/").content.decode()

    assert f"{str(reactive_unit)[:8]} reactive import" in page
    assert " kvarh</td>" in page
    assert " kWh</td>" in page


def test_the_profile_api_names_the_units_of_its_figures(client, admin_user, reactive_unit):
    client.force_login(admin_user)

    answer = client.get(f"/api/v1/units/{reactive_unit}/profile/?obis={REACTIVE}").json()
    active = client.get(f"/api/v1/units/{reactive_unit}/profile/").json()

    assert (answer["energy_unit"], answer["power_unit"]) == ("kvarh", "kvar")
    assert (active["energy_unit"], active["power_unit"]) == ("kWh", "kW")
    assert answer["verdict"]["kind"] == "undetermined"
    assert answer["standard_profiles"] is None
    assert active["standard_profiles"] is not None


def test_two_channels_of_one_unit_and_direction_keep_their_own_names_in_the_overview(
    client, admin_user, ingest_series, consumer_series
):
    # A meter's load profile (1.29.0) and its register (1.8.0): both import.
    muid = ingest_series(consumer_series, obis="0100011D00FF")
    register = 1000 + consumer_series.cumsum().shift(1, fill_value=0.0)
    ingest_series(register.round(4), obis=REGISTER, muid=muid)
    client.force_login(admin_user)

    page = client.get("/analysis/").content.decode()

    short = str(muid)[:8]
    for code in ("1-0:1.29.0*255", "1-0:1.8.0*255"):
        # Its row, and its own bars in the side-by-side chart (named in the chart's text).
        assert page.count(f"{short} import ({code})") >= 2


def test_tariff_registers_sent_with_readable_keys_are_read_as_import_and_export(
    client, admin_user, ingest_series, consumer_series, producer_series
):
    # A meter that sends its tariff-1 registers (1-0:1.8.1, 1-0:2.8.1), keyed as they are read
    # on its display: neither is in a table of known codes; their value groups say what they are.
    muid = ingest_series(1000 + consumer_series.cumsum().round(4), obis="1-0:1.8.1")
    ingest_series(500 + producer_series.cumsum().round(4), obis="1-0:2.8.1", muid=muid)
    client.force_login(admin_user)

    channels = client.get(f"/api/v1/units/{muid}/").json()["channels"]
    page = client.get("/analysis/").content.decode()

    assert [(c["code"], c["direction"], c["description"]) for c in channels] == [
        ("1-0:1.8.1*255", "import", "Active energy import (+A), total register, tariff 1"),
        ("1-0:2.8.1*255", "export", "Active energy export (-A), total register, tariff 1"),
    ]
    short = str(muid)[:8]
    assert f"while {short} export exports" in page  # the pair is netted
    # One tariff's register counts only in that tariff's hours: its shape tells no kind.
    assert page.count("undetermined: the channel counts tariff 1 alone (OBIS E = 1)") == 2


def test_a_tariff_channel_is_not_given_a_kind_and_says_why(consumer_series):
    day_tariff = consumer_series.where(consumer_series.index.hour.isin(range(6, 20)), 0.0)

    read = verdict(day_tariff, tz=ZURICH, tariff=1)

    assert read.kind is Kind.UNDETERMINED
    assert read.missing.startswith("the channel counts tariff 1 alone")


VOLTAGE = "0100200700FF"  # 1-0:32.7.0, the voltage of phase L1


@pytest.fixture
def unit_with_a_voltage(ingest_series, consumer_series):
    """The recorded consumer's import, and the voltage its meter also reports."""
    muid = ingest_series(consumer_series, obis="0100011D00FF")
    volts = pd.Series(230.0, index=consumer_series.index) + np.sin(np.arange(len(consumer_series)))
    ingest_series(volts.round(2), obis=VOLTAGE, muid=muid)
    return muid


def test_a_voltage_is_listed_but_not_analysed_as_energy(client, admin_user, unit_with_a_voltage):
    client.force_login(admin_user)

    overview = client.get("/analysis/").content.decode()
    page = client.get(f"/analysis/{unit_with_a_voltage}/").content.decode()

    reason = "1-0:32.7.0*255 measures voltage (V), not energy"
    assert overview.count(reason) == 2  # its row in the units table and in the passports
    assert " V</td>" not in overview  # no total, peak or base load of volts
    assert f"Not analysed: {reason}." in page
    assert "Channel <code>1-0:1.29.0*255</code>" in page  # the unit's energy channel instead


@pytest.mark.parametrize(
    "path",
    ["/analysis/{muid}/?channel={obis}", "/api/v1/units/{muid}/profile/?obis={obis}"],
)
def test_asking_for_the_analysis_of_a_voltage_is_a_400_that_says_why(
    client, admin_user, unit_with_a_voltage, path
):
    client.force_login(admin_user)

    response = client.get(path.format(muid=unit_with_a_voltage, obis=VOLTAGE))

    assert response.status_code == 400
    assert "measures voltage (V), not energy: the analysis reads energy channels" in (
        response.content.decode()
    )
