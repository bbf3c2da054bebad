"""OBIS codes (IEC 62056-61): decoding the 12-digit hex keys the meter feed uses.

A code has six value groups A-B:C.D.E*F. The feed writes them as six hex bytes, so
`0100011D00FF` is 1-0:1.29.0*255. A code of electrical energy is described by its value groups
(quantity, direction, phase, what a reading measures, tariff), and has a unit of measure; any
other well-formed code still gets its readable form.
"""

import re
from dataclasses import dataclass
from enum import StrEnum

# \A and \Z: `$` would also match before a final newline ("0100011D00FF\n").
HEX_PATTERN = re.compile(r"\A[0-9A-F]{12}\Z")
# The F group may be left out, as it usually is (1-0:1.8.0): it is then 255, "not used".
READABLE_PATTERN = re.compile(
    r"\A([0-9]{1,3})-([0-9]{1,3}):([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})(?:\*([0-9]{1,3}))?\Z"
)
UNUSED_GROUP = "255"


class Direction(StrEnum):
    IMPORT = "import"
    EXPORT = "export"


class Measure(StrEnum):
    """What a reading of a code is, by its D group (IEC 62056-61)."""

    PER_PERIOD = "energy per measuring period"  # D = 29, and any code not below
    REGISTER = "total register"  # D = 8: the energy counted since installation
    POWER = "instantaneous power"  # D = 7 of an energy quantity


class Quantity(StrEnum):
    """What kind of electrical energy a code counts, by its C group."""

    ACTIVE = "active energy"  # what loads consume and generators deliver
    REACTIVE = "reactive energy"  # exchanged with motors' and capacitors' fields
    APPARENT = "apparent energy"  # voltage x current, whatever their phase


# The C groups of electrical energy, less their phase: the quantity each counts, what of it,
# the direction of that energy where it has one, and its sign as IEC 62056-61 writes it.
C_GROUPS: dict[int, tuple[Quantity, str, Direction | None, str]] = {
    1: (Quantity.ACTIVE, "import", Direction.IMPORT, "+A"),
    2: (Quantity.ACTIVE, "export", Direction.EXPORT, "-A"),
    3: (Quantity.REACTIVE, "import", Direction.IMPORT, "+R"),
    4: (Quantity.REACTIVE, "export", Direction.EXPORT, "-R"),
    5: (Quantity.REACTIVE, "quadrant I", None, "+Ri"),
    6: (Quantity.REACTIVE, "quadrant II", None, "+Rc"),
    7: (Quantity.REACTIVE, "quadrant III", None, "-Ri"),
    8: (Quantity.REACTIVE, "quadrant IV", None, "-Rc"),
    9: (Quantity.APPARENT, "import", Direction.IMPORT, "+S"),
    10: (Quantity.APPARENT, "export", Direction.EXPORT, "-S"),
    15: (Quantity.ACTIVE, "absolute", None, "|+A| + |-A|"),
    16: (Quantity.ACTIVE, "net", None, "+A - -A"),
}
# A C group adds 20, 40 or 60 to name the phase L1, L2 or L3.
PHASES = {0: "", 20: ", phase L1", 40: ", phase L2", 60: ", phase L3"}
QUANTITY_OF_C = {
    base + phase: quantity for base, (quantity, *_) in C_GROUPS.items() for phase in PHASES
}
# Each quantity's units of energy and of power.
UNITS = {
    Quantity.ACTIVE: ("kWh", "kW"),
    Quantity.REACTIVE: ("kvarh", "kvar"),
    Quantity.APPARENT: ("kVAh", "kVA"),
}
# The unit of the energy of an interval of a power channel.
ENERGY_OF_POWER = {power: energy for energy, power in UNITS.values()}
POWER_OF_ENERGY = dict(UNITS.values())


@dataclass(frozen=True, slots=True)
class ObisCode:
    hex: str
    code: str
    description: str
    direction: Direction | None
    unit_of_measure: str | None
    measure: Measure = Measure.PER_PERIOD
    quantity: Quantity | None = None  # None: not an electrical energy quantity (or not known)
    # What an electricity code that is not energy measures ("voltage"); see `energy`.
    measures: str | None = None

    @property
    def energy(self) -> bool:
        """Whether readings of the code are energy (or power), what the analysis reads: every
        code of electrical energy, and a code of another medium (gas, heat, water), read as it
        is. Not an electricity code of another quantity (a voltage, a current) or an abstract
        one (A = 0: a serial number, an error register)."""
        return self.quantity is not None or self.hex[:2] not in ("00", "01")

    @property
    def not_energy(self) -> str:
        """Why the analysis does not read the code's readings ("" for an energy code)."""
        if self.energy:
            return ""
        if self.measures is None:
            return f"{self.code} is not an energy code"
        unit = f" ({self.unit_of_measure})" if self.unit_of_measure else ""
        return f"{self.code} measures {self.measures}{unit}, not energy"

    @property
    def tariff(self) -> int:
        """The tariff an energy code counts in (its E group), 0 for the total of all tariffs."""
        return int(self.hex[8:10], 16) if self.quantity is not None else 0

    @property
    def energy_unit(self) -> str | None:
        """The unit of an interval's energy (what the analysis reads from the readings)."""
        if not self.energy:
            return None
        if self.measure is Measure.POWER:
            return ENERGY_OF_POWER.get(self.unit_of_measure or "")
        return self.unit_of_measure

    @property
    def active(self) -> bool:
        """Whether the code counts active energy, or energy of a quantity not known (read as
        such)."""
        return self.energy and self.quantity in (None, Quantity.ACTIVE)

    @property
    def power_unit(self) -> str | None:
        """The unit of the mean power of an interval (its energy over its length)."""
        return POWER_OF_ENERGY.get(self.energy_unit or "")


# The C groups of electricity's other quantities (less their phase): what each measures, and
# its unit.
MEASURED_OF_C: dict[int, tuple[str, str | None]] = {
    11: ("current", "A"),
    12: ("voltage", "V"),
    13: ("power factor", None),
    14: ("frequency", "Hz"),
}
# A power's sign, where it differs from its energy's: P for active, Q for reactive power.
POWER_SIGNS = str.maketrans("AR", "PQ")
# What a reading of an energy code is, by its D group (any other: energy per period).
MEASURE_OF_D = {8: Measure.REGISTER, 7: Measure.POWER}
MEASURES = {Measure.REGISTER: ", total register", Measure.POWER: ", instantaneous"}
ENERGY_PER_PERIOD = 0x1D  # D = 29, what the feed sends: the energy of each 15-minute interval


def is_obis_hex(value: str) -> bool:
    """True for a 12-digit upper-case hex OBIS key such as `0100011D00FF`."""
    return bool(HEX_PATTERN.match(value))


def format_obis(hex_code: str) -> str:
    """Format a 12-digit hex OBIS key as A-B:C.D.E*F; raises ValueError for anything else."""
    normalized = hex_code.upper()
    if not is_obis_hex(normalized):
        raise ValueError(f"{hex_code!r} is not a 12-digit hex OBIS code")
    a, b, c, d, e, f = (int(normalized[i : i + 2], 16) for i in range(0, 12, 2))
    return f"{a}-{b}:{c}.{d}.{e}*{f}"


def obis_hex(code: str) -> str:
    """The hex key of a code given as hex (`0100011D00FF`) or readable (`1-0:1.29.0*255`, or
    `1-0:1.29.0` for the same); raises ValueError for anything else."""
    if is_obis_hex(code.upper()):
        return code.upper()
    match = READABLE_PATTERN.match(code)
    groups = match.groups(UNUSED_GROUP) if match else ()
    if match is None or any(int(group) > 255 for group in groups):
        raise ValueError(f"{code!r} is not an OBIS code")
    return "".join(f"{int(group):02X}" for group in groups)


def decode(hex_code: str) -> ObisCode:
    """Decode a hex OBIS key. An electrical energy code is described from its value groups (C:
    quantity, direction and phase; D: what a reading measures; E: the tariff); any other code
    gets its readable form only."""
    normalized = hex_code.upper()
    code = format_obis(normalized)
    c, d, e = (int(normalized[i : i + 2], 16) for i in (4, 6, 8))
    electricity = normalized[:2] == "01"
    quantity = QUANTITY_OF_C.get(c) if electricity else None
    if quantity is None:  # not electricity, or not energy: read as it is
        return _other(normalized, code, c, d, electricity=electricity)
    measure = MEASURE_OF_D.get(d, Measure.PER_PERIOD)
    phase = _phase(c, C_GROUPS)
    _, name, direction, sign = C_GROUPS[c - phase]
    power = measure is Measure.POWER
    if power:
        sign = sign.translate(POWER_SIGNS)
    processing = MEASURES.get(measure) or (
        " per measuring period" if d == ENERGY_PER_PERIOD else f", value group D = {d}"
    )
    kind = quantity.split()[0].capitalize() + (" power" if power else " energy")
    tariff = f", tariff {e}" if e else ""
    description = f"{kind} {name} ({sign}){processing}{PHASES[phase]}{tariff}"
    unit = UNITS[quantity][1 if power else 0]
    return ObisCode(normalized, code, description, direction, unit, measure, quantity)


def _other(normalized: str, code: str, c: int, d: int, *, electricity: bool) -> ObisCode:
    """A code that is no electrical energy: an electricity code of another quantity is named
    by its C group, any other gets its readable form."""
    phase = _phase(c, MEASURED_OF_C) if electricity else None
    if phase is None:
        return ObisCode(
            normalized, code, f"OBIS {code} (not an electrical energy code)", None, None
        )
    measures, unit = MEASURED_OF_C[c - phase]
    instant = MEASURE_OF_D.get(d) is Measure.POWER  # D = 7: an instantaneous value
    processing = ", instantaneous" if instant else f", value group D = {d}"
    description = f"{measures.capitalize()}{processing}{PHASES[phase]}"
    return ObisCode(normalized, code, description, None, unit, measures=measures)


def _phase(c: int, groups: dict[int, object]) -> int | None:
    """The phase offset (0, 20, 40, 60) that takes C group `c` to one of `groups`."""
    return next((offset for offset in PHASES if c - offset in groups), None)
