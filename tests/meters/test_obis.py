import pytest

from meters.obis import (
    Direction,
    Measure,
    Quantity,
    decode,
    format_obis,
    is_obis_hex,
    obis_hex,
)


@pytest.mark.parametrize(
    ("hex_code", "readable"),
    [
        ("0100011D00FF", "1-0:1.29.0*255"),
        ("0100021D00FF", "1-0:2.29.0*255"),
        ("0100010800FF", "1-0:1.8.0*255"),
        ("0000600100FF", "0-0:96.1.0*255"),
    ],
)
def test_it_formats_hex_as_value_groups(hex_code, readable):
    assert format_obis(hex_code) == readable


def test_it_decodes_the_import_channel():
    code = decode("0100011D00FF")

    assert code.code == "1-0:1.29.0*255"
    assert code.direction is Direction.IMPORT
    assert code.unit_of_measure == "kWh"
    assert "import (+A)" in code.description


def test_it_decodes_the_export_channel():
    code = decode("0100021D00FF")

    assert code.direction is Direction.EXPORT
    assert "export (-A)" in code.description


def test_a_code_of_no_energy_quantity_still_gets_its_readable_form():
    code = decode("0100630100FF")

    assert code.code == "1-0:99.1.0*255"
    assert (code.direction, code.unit_of_measure) == (None, None)
    assert code.description == "OBIS 1-0:99.1.0*255 (not an electrical energy code)"


@pytest.mark.parametrize(
    ("readable", "description", "direction", "unit"),
    [
        ("1-0:1.29.0", "Active energy import (+A) per measuring period", "import", "kWh"),
        ("1-0:2.8.0", "Active energy export (-A), total register", "export", "kWh"),
        ("1-0:1.8.1", "Active energy import (+A), total register, tariff 1", "import", "kWh"),
        ("1-0:2.8.2", "Active energy export (-A), total register, tariff 2", "export", "kWh"),
        ("1-0:21.7.0", "Active power import (+P), instantaneous, phase L1", "import", "kW"),
        (
            "1-0:62.29.0",
            "Active energy export (-A) per measuring period, phase L3",
            "export",
            "kWh",
        ),
        ("1-0:16.7.0", "Active power net (+P - -P), instantaneous", None, "kW"),
        ("1-0:15.8.0", "Active energy absolute (|+A| + |-A|), total register", None, "kWh"),
        ("1-0:4.29.0", "Reactive energy export (-R) per measuring period", "export", "kvarh"),
        ("1-0:3.7.0", "Reactive power import (+Q), instantaneous", "import", "kvar"),
        ("1-0:5.8.0", "Reactive energy quadrant I (+Ri), total register", None, "kvarh"),
        ("1-0:9.29.0", "Apparent energy import (+S) per measuring period", "import", "kVAh"),
        ("1-0:1.6.0", "Active energy import (+A), value group D = 6", "import", "kWh"),
    ],
)
def test_an_energy_code_is_described_by_its_value_groups(readable, description, direction, unit):
    code = decode(obis_hex(readable))

    assert (code.description, code.direction, code.unit_of_measure) == (
        description,
        direction and Direction(direction),
        unit,
    )


def test_lower_case_hex_is_accepted():
    assert decode("0100011d00ff").hex == "0100011D00FF"


@pytest.mark.parametrize("bad", ["", "0100011D00", "0100011D00FFAA", "01000G1D00FF", "timestamp"])
def test_it_refuses_what_is_not_a_12_digit_hex_code(bad):
    assert not is_obis_hex(bad.upper())
    with pytest.raises(ValueError, match="not a 12-digit hex OBIS code"):
        format_obis(bad)


@pytest.mark.parametrize(
    ("given", "hex_code"),
    [
        ("0100011D00FF", "0100011D00FF"),
        ("0100011d00ff", "0100011D00FF"),
        ("1-0:1.29.0*255", "0100011D00FF"),
        ("1-0:2.29.0*255", "0100021D00FF"),
        ("1-0:1.29.0", "0100011D00FF"),
        ("1-0:1.8.0", "0100010800FF"),
        ("1-0:1.8.0*1", "010001080001"),
    ],
)
def test_a_code_given_as_hex_or_readable_gives_its_hex_key(given, hex_code):
    assert obis_hex(given) == hex_code


@pytest.mark.parametrize(
    "bad", ["1-0:1.29.0*256", "1-0:1.29", "1-0:1.29.0*", "1.29.0", "A-B:C.D.E*F", ""]
)
def test_what_is_no_obis_code_gives_no_hex_key(bad):
    with pytest.raises(ValueError, match="is not an OBIS code"):
        obis_hex(bad)


@pytest.mark.parametrize(
    ("hex_code", "measure", "energy_unit"),
    [
        ("0100011D00FF", Measure.PER_PERIOD, "kWh"),
        ("0100031D00FF", Measure.PER_PERIOD, "kvarh"),
        ("0100010800FF", Measure.REGISTER, "kWh"),
        ("0100020800FF", Measure.REGISTER, "kWh"),
        ("0100150800FF", Measure.REGISTER, "kWh"),  # 21.8.0: active import of phase L1
        ("0100010700FF", Measure.POWER, "kWh"),
        ("0100200700FF", Measure.PER_PERIOD, None),  # 32.7.0: a voltage, not energy
        ("07000D0800FF", Measure.PER_PERIOD, None),  # gas (A = 7): read as it is
    ],
)
def test_the_d_group_tells_what_a_reading_measures(hex_code, measure, energy_unit):
    code = decode(hex_code)

    assert code.measure is measure
    assert code.energy_unit == energy_unit


@pytest.mark.parametrize(
    ("hex_code", "quantity", "energy_unit", "power_unit"),
    [
        ("0100011D00FF", Quantity.ACTIVE, "kWh", "kW"),
        ("0100021D00FF", Quantity.ACTIVE, "kWh", "kW"),
        ("0100031D00FF", Quantity.REACTIVE, "kvarh", "kvar"),
        ("0100051D00FF", Quantity.REACTIVE, "kvarh", "kvar"),  # 5.29.0: reactive, quadrant I
        ("0100171D00FF", Quantity.REACTIVE, "kvarh", "kvar"),  # 23.29.0: +R of phase L1
        ("01001F1D00FF", None, None, None),  # 31.29.0: a current of phase L1
        ("0100091D00FF", Quantity.APPARENT, "kVAh", "kVA"),
        ("0100030700FF", Quantity.REACTIVE, "kvarh", "kvar"),  # reactive power, read as energy
        ("0100200700FF", None, None, None),  # a voltage
        ("07000D0800FF", None, None, None),  # gas
    ],
)
def test_the_c_group_tells_the_quantity_and_its_units(hex_code, quantity, energy_unit, power_unit):
    code = decode(hex_code)

    assert (code.quantity, code.energy_unit, code.power_unit) == (quantity, energy_unit, power_unit)


@pytest.mark.parametrize(
    ("readable", "description", "unit", "why"),
    [
        ("1-0:32.7.0", "Voltage, instantaneous, phase L1", "V", "measures voltage (V), not energy"),
        ("1-0:71.7.0", "Current, instantaneous, phase L3", "A", "measures current (A), not energy"),
        ("1-0:14.7.0", "Frequency, instantaneous", "Hz", "measures frequency (Hz), not energy"),
        ("1-0:13.7.0", "Power factor, instantaneous", None, "measures power factor, not energy"),
        (
            "1-0:0.9.1",
            "OBIS 1-0:0.9.1*255 (not an electrical energy code)",
            None,
            "is not an energy code",
        ),
        (
            "0-0:96.1.0",
            "OBIS 0-0:96.1.0*255 (not an electrical energy code)",
            None,
            "is not an energy code",
        ),
    ],
)
def test_an_electricity_code_of_another_quantity_is_named_and_is_not_energy(
    readable, description, unit, why
):
    code = decode(obis_hex(readable))

    assert (code.description, code.unit_of_measure) == (description, unit)
    assert not code.energy
    assert not code.active
    assert (code.energy_unit, code.power_unit, code.direction) == (None, None, None)
    assert code.not_energy == f"{code.code} {why}"


@pytest.mark.parametrize("readable", ["1-0:1.29.0", "1-0:3.8.0", "7-0:13.8.0", "6-0:1.0.0"])
def test_energy_and_other_media_are_read_as_energy(readable):
    # Gas (A = 7) and heat (A = 6) are read as they are.
    code = decode(obis_hex(readable))

    assert code.energy
    assert code.not_energy == ""


@pytest.mark.parametrize(
    ("readable", "tariff"),
    [("1-0:1.8.0", 0), ("1-0:1.8.1", 1), ("1-0:2.8.2", 2), ("1-0:32.7.3", 0), ("7-0:3.0.1", 0)],
)
def test_an_energy_code_counts_in_the_tariff_of_its_e_group(readable, tariff):
    assert decode(obis_hex(readable)).tariff == tariff
