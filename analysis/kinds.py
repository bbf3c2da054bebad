"""What a unit measures: a few physical features of its series and the kinds they point to.

Each feature has a physical reason (FEATURES holds it, in words a reader of the page gets);
each kind is the product of a few memberships, each a linear ramp between two values of one
feature, or the better of two such ramps where either sign will do (RULES). The kind with the
highest score is the verdict; its margin over the runner-up is the confidence. The OBIS
direction never decides: it only corroborates.

    PV          dark_share ↓  bell_r ↑  step_share ↓  width_ratio ↑
    EV          plateau ↑  step ↑  base_ratio ↓  blocks_per_day ↓  daily_cv ↑
    battery     plateau ↑  step ↑  base_ratio ↓  blocks/day ↓  daily_cv ↓  active_days ↑
                dark_zero_share ↑  weekend_ratio ↑
    heating     plateau ↑  step ↑  blocks_per_day ↑  dark_share ↑
    night-only  dark_share ↑  day_zero_share ↑  dark_zero_share ↓  on_cv ↓
    prosumer    noon_ratio ↓  noon_zero_share ↑  dark_zero_share ↓  on_cv ↑
    commercial  weekend_ratio ↓  base_ratio ↑  plateau ↓
    constant    base_ratio ↑  daily_cv ↓
    household   dark_zero_share ↓  base_ratio ↕  plateau ↓  weekend_ratio ↑  noon_ratio ↑  dark ↑
                (step_share ↑ or cycle_excess ↑)
    wind        cycle_excess ↓  dark_share ↑  daily_cv ↑  plateau ↓  step_share ↓

Features are taken on whole local days (the daily cycle on every reading, as the report's test
takes it: stats.daily_cycle); "dark" is the sun below sun.DARK_BELOW over the middle
of Switzerland at the middle of each interval, so the night follows the season and DST.
"""

from dataclasses import dataclass, replace
from datetime import tzinfo
from enum import StrEnum

import numpy as np
import pandas as pd

from analysis import sun
from analysis.stats import ZERO, DailyCycle, daily_cycle, detect_interval, persistence
from meters.obis import Direction, Quantity

# The least data a verdict is drawn from: whole local days, and the share of readings present.
MIN_DAYS = 3
MIN_COMPLETENESS = 0.5
# A day counts when it has this share of its readings.
DAY_PRESENT = 0.8
# A runner-up scoring at least this share of the verdict's score is named.
CLOSE = 0.5
# A series counts rather than measures when at most this share of its steps go down (a reset)
# and at least half go up.
RESETS = 0.01
# The median over the mean from which readings scatter evenly rather than sit on a base.
SCATTER = 0.8
# Energy in negative readings, as a share of all that flowed, past which a series is a net flow
# (below it, a meter's noise around zero).
NET_SHARE = 0.01


class Kind(StrEnum):
    PV = "pv"
    HOUSEHOLD = "household"
    HEATING = "heating"
    EV = "ev"
    NIGHT = "night"
    COMMERCIAL = "commercial"
    PROSUMER = "prosumer"
    BATTERY = "battery"
    WIND = "wind"
    CONSTANT = "constant"
    UNDETERMINED = "undetermined"

    @property
    def label(self) -> str:
        return LABELS[self]

    @property
    def family(self) -> str:
        if self in (Kind.PV, Kind.WIND):
            return "generation"
        if self is Kind.BATTERY:
            return "storage"
        if self is Kind.UNDETERMINED:
            return "undetermined"
        return "consumption"


LABELS = {
    Kind.PV: "photovoltaic generation",
    Kind.HOUSEHOLD: "household consumption",
    Kind.HEATING: "electric heating or a heat pump",
    Kind.EV: "EV charging",
    Kind.NIGHT: "a night-only load (storage heating, lighting)",
    Kind.COMMERCIAL: "a commercial or office load",
    Kind.PROSUMER: "the grid import of a site with its own PV",
    Kind.BATTERY: "a battery charging or discharging on a timer",
    Kind.WIND: "wind or other weather-driven generation",
    Kind.CONSTANT: "a near-constant load",
    Kind.UNDETERMINED: "undetermined",
}

# name -> (what it measures, why it separates kinds)
FEATURES = {
    "dark_share": (
        "share of the energy measured while the sun is down",
        "a panel produces nothing without the sun; a load runs whenever it is needed",
    ),
    "bell_r": (
        "correlation of the mean profile by time of day with the sun's height",
        "generation follows the sun's bell; a load follows habits",
    ),
    "width_ratio": (
        "span of the day's output over the day's length (median over days)",
        "a panel's output spans most of the daylight and widens with it through the year; "
        "a charger's block lasts a few hours whatever the season",
    ),
    "step_share": (
        "largest rise between two readings over the day's largest reading (median over days)",
        "the sun rises gradually; a charger or an appliance switches on at full power at once",
    ),
    "plateau_share": (
        "share of the energy drawn within 10% of the rated power (the median of the "
        "readings above half the largest)",
        "a charger, battery or compressor draws blocks of near-constant power",
    ),
    "on_cv": (
        "variation of the non-zero readings within a day (coefficient of variation, median)",
        "a switched heater or lamp draws the same power while on; many appliances do not",
    ),
    "blocks_per_day": (
        "runs of at least half the rated power per active day",
        "a car charges once a day; a thermostat switches many times a day",
    ),
    "base_ratio": (
        "5th percentile of the power over the mean power",
        "a load that never switches off has a base; generation and chargers drop to zero",
    ),
    "daily_cv": (
        "coefficient of variation of the daily energy",
        "the weather and the day's driving vary; a timer or a constant load repeats",
    ),
    "active_days": (
        "share of whole days with energy",
        "a battery cycles every day; a car is not charged every day",
    ),
    "weekend_ratio": (
        "mean power from 08:00 to 18:00 on weekend days over the same hours on weekdays",
        "offices and workplace chargers rest at weekends; the sun does not keep a calendar",
    ),
    "day_zero_share": (
        "share of the daylight readings that are zero",
        "a night-only load is off by day: that is a load, not missing generation",
    ),
    "dark_zero_share": (
        "share of the readings in the dark that are zero",
        "a household or a prosumer draws power at night",
    ),
    "noon_ratio": (
        "mean power within two hours of solar noon over the mean power in the dark",
        "own PV covers a prosumer's load at midday, so its import falls below its night load",
    ),
    "noon_zero_share": (
        "share of the readings within two hours of solar noon that are zero",
        "a prosumer whose panels cover its load imports nothing at midday",
    ),
    "cycle_excess": (
        "share of the readings' variance the time of day explains, less the share the same "
        "readings shuffled across the times of day explain (95th percentile)",
        "the sun, habits and timers keep the clock; the wind does not",
    ),
}


def ramp(value: float, zero_at: float, one_at: float) -> float:
    """0 at `zero_at`, 1 at `one_at`, linear between (either may be the larger)."""
    if np.isnan(value):
        return 1.0  # a feature the data cannot give neither supports nor rules out
    share = (value - zero_at) / (one_at - zero_at)
    return float(min(1.0, max(0.0, share)))


Rule = tuple[str, float, float]  # (feature, zero_at, one_at)


def membership(values: dict[str, float], rule: Rule | tuple[Rule, Rule]) -> float:
    """A rule's ramp at the feature's value; of two alternative rules, the better one."""
    if isinstance(rule[0], tuple):
        return max(membership(values, alternative) for alternative in rule)
    name, zero_at, one_at = rule
    return ramp(values[name], zero_at, one_at)


# kind -> rules: the score is the product of their memberships.
RULES: dict[Kind, list[Rule | tuple[Rule, Rule]]] = {
    Kind.PV: [
        ("dark_share", 0.03, 0.01),
        ("bell_r", 0.6, 0.85),
        ("step_share", 0.8, 0.55),
        ("width_ratio", 0.35, 0.55),
    ],
    Kind.EV: [
        ("plateau_share", 0.5, 0.7),
        ("step_share", 0.6, 0.8),
        ("base_ratio", 0.1, 0.02),
        ("blocks_per_day", 3.0, 2.0),
        ("daily_cv", 0.15, 0.3),
    ],
    Kind.BATTERY: [
        ("plateau_share", 0.5, 0.7),
        ("step_share", 0.6, 0.8),
        ("base_ratio", 0.1, 0.02),
        ("blocks_per_day", 3.0, 2.0),
        ("daily_cv", 0.3, 0.15),
        ("active_days", 0.8, 0.95),
        ("dark_zero_share", 0.3, 0.5),
        ("weekend_ratio", 0.5, 0.8),
    ],
    Kind.HEATING: [
        ("plateau_share", 0.3, 0.5),
        ("step_share", 0.5, 0.7),
        ("blocks_per_day", 2.0, 3.5),
        ("dark_share", 0.15, 0.3),
    ],
    Kind.NIGHT: [
        ("dark_share", 0.75, 0.9),
        ("day_zero_share", 0.6, 0.85),
        ("dark_zero_share", 0.75, 0.6),
        ("on_cv", 0.35, 0.2),
    ],
    Kind.PROSUMER: [
        ("noon_ratio", 0.5, 0.25),
        ("noon_zero_share", 0.15, 0.35),
        ("dark_zero_share", 0.5, 0.2),
        ("on_cv", 0.2, 0.35),
    ],
    Kind.COMMERCIAL: [
        ("weekend_ratio", 0.75, 0.55),
        ("base_ratio", 0.02, 0.08),
        ("plateau_share", 0.6, 0.4),
    ],
    Kind.CONSTANT: [
        ("base_ratio", 0.6, 0.8),
        ("daily_cv", 0.2, 0.1),
    ],
    Kind.HOUSEHOLD: [
        ("dark_zero_share", 0.5, 0.2),
        ("base_ratio", 0.01, 0.05),
        ("base_ratio", 0.8, 0.6),
        ("plateau_share", 0.5, 0.3),
        ("weekend_ratio", 0.6, 0.8),
        ("noon_ratio", 0.25, 0.5),
        ("dark_share", 0.05, 0.15),
        # Habits show as appliances switched on at once, or, where many loads or longer
        # intervals smooth those away, as a daily cycle.
        (("step_share", 0.4, 0.6), ("cycle_excess", 0.0, 0.04)),
    ],
    Kind.WIND: [
        ("cycle_excess", 0.04, 0.01),
        ("dark_share", 0.15, 0.3),
        ("daily_cv", 0.25, 0.5),
        ("plateau_share", 0.8, 0.6),
        ("step_share", 0.7, 0.5),
    ],
}


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    value: float
    measures: str
    reason: str


@dataclass(frozen=True)
class Verdict:
    """The kind the data points to, how sure, the runner-up if close, and why."""

    kind: Kind
    confidence: float  # the verdict's score less the runner-up's, 0..1
    scores: dict[Kind, float]
    features: list[Feature]
    runner_up: Kind | None
    headline: str
    missing: str = ""  # what the data lacks, when undetermined
    cycle: DailyCycle | None = None  # the daily-cycle test, on two readings or more

    @property
    def confidence_word(self) -> str:
        if self.kind is Kind.UNDETERMINED:
            return "none"
        if self.confidence >= 0.5:
            return "high"
        return "medium" if self.confidence >= 0.2 else "low"

    def feature(self, name: str) -> float:
        return next(f.value for f in self.features if f.name == name)


def features(series: pd.Series, *, tz: tzinfo, step: pd.Timedelta) -> dict[str, float]:
    """The features of FEATURES, from the series' whole local days."""
    per_day = int(pd.Timedelta(days=1) / step)
    hours = step / pd.Timedelta(hours=1)
    local = series.tz_convert(tz)
    dates = local.index.tz_localize(None).normalize()
    counts = pd.Series(1, index=dates).groupby(level=0).size()
    whole = counts.index[counts >= DAY_PRESENT * per_day]
    keep = dates.isin(whole)
    series = series[keep]
    kw = series.to_numpy(dtype=float) / hours
    total = float(kw.sum())
    elevation = sun.elevation(sun.midpoints(series.index, step))
    dark = elevation < sun.DARK_BELOW
    is_zero = kw <= ZERO / hours
    local = series.tz_convert(tz)
    wall = local.index.tz_localize(None)
    day = wall.normalize()
    slot = ((wall - day) // step).astype(int)

    # Solar noon: the interval of each day in which the sun stands highest.
    frame = pd.DataFrame({"day": day, "elev": elevation, "kw": kw, "slot": slot})
    moments = series.index.to_numpy()
    noon = moments[frame.groupby("day")["elev"].transform("idxmax").to_numpy()]
    near_noon = (np.abs(moments - noon) <= np.timedelta64(2, "h")) & ~dark

    clear = np.clip(np.sin(np.radians(elevation)), 0, None)
    by_slot = pd.DataFrame({"kw": kw, "clear": clear}).groupby(slot.to_numpy()).mean()
    bell_r = by_slot["kw"].corr(by_slot["clear"]) if by_slot["kw"].std() > 0 else 0.0

    # The rated power: the level a switched load runs at when it is on. The largest reading
    # is the 99.5th percentile, so that one odd reading does not set it.
    top = float(np.quantile(kw, 0.995)) if len(kw) else 0.0
    high = kw[kw >= 0.5 * top]
    rated = float(np.median(high)) if len(high) else 0.0
    at_rated = np.abs(kw - rated) <= 0.1 * rated
    daily = frame.assign(up=elevation > 0)
    widths, steps, blocks, variations = [], [], [], []
    for _date, one in daily.groupby("day"):
        values = one["kw"].to_numpy()
        peak = values.max()
        if peak <= ZERO:
            continue
        on = np.flatnonzero(values > ZERO)
        variations.append(float(values[on].std() / values[on].mean()))
        day_length = one["up"].sum() * hours
        if day_length > 0:
            widths.append((on[-1] - on[0] + 1) * hours / day_length)
        steps.append(max(0.0, float(np.diff(values).max(initial=0.0))) / peak)
        high = values >= 0.5 * rated
        blocks.append(int((high[1:] & ~high[:-1]).sum() + high[0]))

    # Day-to-day figures from the days with every reading, when there are enough of them: a
    # day short of a few readings is short of energy too.
    readings = frame.groupby("day")["kw"].count()
    daily_energy = frame.groupby("day")["kw"].sum() * hours
    if (readings >= per_day).sum() >= MIN_DAYS:
        daily_energy = daily_energy[readings >= per_day]
    working = (wall.hour >= 8) & (wall.hour < 18)
    is_weekend = wall.day_of_week >= 5
    weekday_mean = kw[working & ~is_weekend].mean() if (working & ~is_weekend).any() else np.nan
    weekend_ratio = (
        kw[working & is_weekend].mean() / weekday_mean
        if (working & is_weekend).any() and weekday_mean > 0
        else np.nan
    )
    mean_kw = kw.mean()
    dark_mean = kw[dark].mean() if dark.any() else np.nan
    noon_mean = kw[near_noon].mean() if near_noon.any() else np.nan
    return {
        "dark_share": float(kw[dark].sum() / total) if total > 0 else 0.0,
        "bell_r": float(bell_r) if not np.isnan(bell_r) else 0.0,
        "width_ratio": float(np.median(widths)) if widths else np.nan,
        "step_share": float(np.median(steps)) if steps else np.nan,
        "plateau_share": float(kw[at_rated].sum() / total) if total > 0 else 0.0,
        "blocks_per_day": float(np.mean(blocks)) if blocks else 0.0,
        "on_cv": float(np.median(variations)) if variations else np.nan,
        "base_ratio": float(np.quantile(kw, 0.05) / mean_kw) if mean_kw > 0 else 0.0,
        "daily_cv": float(daily_energy.std() / daily_energy.mean())
        if len(daily_energy) > 1 and daily_energy.mean() > 0
        else np.nan,
        "active_days": float((daily_energy > 0.05 * daily_energy.mean()).mean()),
        "weekend_ratio": float(weekend_ratio),
        "day_zero_share": float(is_zero[~dark].mean()) if (~dark).any() else np.nan,
        "dark_zero_share": float(is_zero[dark].mean()) if dark.any() else np.nan,
        "noon_ratio": float(min(noon_mean / dark_mean, 10.0))
        if dark_mean > 0
        else (10.0 if noon_mean > 0 else np.nan),
        "noon_zero_share": float(is_zero[near_noon].mean()) if near_noon.any() else np.nan,
        "_whole_days": float(len(whole)),
    }


def scores(values: dict[str, float]) -> dict[Kind, float]:
    """Each kind's score: the product of its rules' memberships."""
    return {
        kind: float(np.prod([membership(values, rule) for rule in rules]))
        for kind, rules in RULES.items()
    }


_DIRECTION_NOTES = {
    ("generation", Direction.IMPORT): " on an import channel (a production meter, or a "
    "channel labelled the wrong way)",
    ("consumption", Direction.EXPORT): " on an export channel: energy fed in on a load's "
    "schedule (a mislabelled channel, or a generator run as a load would be)",
}


def _headline(kind: Kind, values: dict[str, float], direction: Direction | None) -> str:
    label = kind.label
    if kind is Kind.EV:
        dark, weekend = values["dark_share"], values["weekend_ratio"]
        if not np.isnan(weekend) and weekend < 0.3 and dark < 0.5:
            label += " at a workplace (weekday daytime blocks)"
        elif dark >= 0.3:
            label += " at home (evening and night blocks)"
    if kind is Kind.PV and direction is Direction.EXPORT:
        label = "photovoltaic feed-in: solar generation exported to the grid"
    if kind is Kind.WIND and direction is Direction.EXPORT:
        label += " fed into the grid"
    if kind is Kind.CONSTANT and direction is Direction.EXPORT:
        # The shape of a base load, and of a generator that runs steadily: the channel tells.
        return "near-constant generation fed into the grid (a run-of-river plant, a CHP unit)"
    if kind.family == "consumption" and direction is Direction.IMPORT:
        label += " drawn from the grid"
    return label + _DIRECTION_NOTES.get((kind.family, direction), "")


# Why the kinds, told by active energy, do not apply to a channel of another quantity.
OTHER_QUANTITIES = {
    Quantity.REACTIVE: (
        "the channel counts reactive energy (kvarh): what motors, compressors, transformers and "
        "capacitors exchange with the grid as their fields build up and collapse, not energy "
        "consumed or generated; the kinds (loads, generators, storage) are told by active "
        "energy, on the unit's active channels (1-0:1.x, 1-0:2.x), and this shape shows when "
        "its inductive or capacitive equipment runs"
    ),
    Quantity.APPARENT: (
        "the channel counts apparent energy (kVAh): voltage times current whatever their "
        "phase, active and reactive energy together; the kinds (loads, generators, storage) "
        "are told by active energy alone, on the unit's active channels (1-0:1.x, 1-0:2.x)"
    ),
}


def tariff_reason(tariff: int) -> str:
    """Why one tariff's channel does not tell a kind."""
    return (
        f"the channel counts tariff {tariff} alone (OBIS E = {tariff}): energy only in the hours "
        "that tariff applies, so its daily shape is the tariff's schedule as much as the load's; "
        "the kinds are told by the unit's total (E = 0) or by its tariffs together"
    )


def verdict(
    series: pd.Series,
    *,
    tz: tzinfo,
    direction: Direction | None = None,
    quantity: Quantity | None = None,
    tariff: int = 0,
) -> Verdict:
    """The kind of unit the series most likely comes from (see the module docstring).

    The kinds describe active energy: a channel of another quantity (OBIS C group) is
    undetermined, and says why; so is the channel of one tariff (E group), whose readings stop
    outside that tariff's hours. The kinds describe a flow one way. A series that also runs the
    other way (negative readings, more than NET_SHARE of the energy) is a net flow, import
    less export: the verdict is that of its import, and says so; its daily-cycle test stays
    the series' own, which the report's sentences describe."""
    reason = OTHER_QUANTITIES.get(quantity, "") or (tariff_reason(tariff) if tariff else "")
    if reason:
        return _verdict(series, tz=tz, direction=direction, reason=reason)
    fed_in, flowed = float(-series[series < 0].sum()), float(series.abs().sum())
    if fed_in > NET_SHARE * flowed:
        imported = _verdict(series.clip(lower=0), tz=tz, direction=None)
        headline = (
            f"a net flow, import less export ({fed_in / flowed:.0%} of the energy, in the "
            f"negative readings, was fed in); its import: {imported.headline}"
        )
        return replace(imported, headline=headline, cycle=daily_cycle(series, tz=tz))
    return _verdict(series, tz=tz, direction=direction)


def _missing(series: pd.Series, *, whole_days: int, per_day: int, completeness: float) -> str:
    """Why the series cannot be read for a kind at all, if it cannot; else ""."""
    if whole_days < MIN_DAYS:
        return (
            f"{whole_days} whole local day{'s' if whole_days != 1 else ''} with at least "
            f"{DAY_PRESENT:.0%} of their {per_day} readings; at least {MIN_DAYS} are needed to "
            "tell a daily shape from chance"
        )
    if completeness < MIN_COMPLETENESS:
        return (
            f"only {completeness:.0%} of the readings between the first and the last are "
            f"present; at least {MIN_COMPLETENESS:.0%} are needed"
        )
    if float(series.abs().sum()) <= ZERO:
        return "every reading is zero: no energy flowed, so there is no shape to read"
    if _counts(series):
        return (
            "the readings only rise (no step from one reading to the next goes down but for "
            "a reset): the shape of a total register, a count since installation, not of the "
            "energy of each interval; a register's OBIS code says so (1-0:1.8.0), and its "
            "channel is then read by its rises"
        )
    return ""


def _counts(series: pd.Series) -> bool:
    """Whether the readings rise like a register's: most steps up, none down but resets."""
    steps = np.diff(series.to_numpy(dtype=float))
    return len(steps) > 0 and (steps < 0).mean() <= RESETS and (steps > 0).mean() >= 0.5


def _randomness(series: pd.Series, *, cycle: DailyCycle) -> str:
    """Why a series that is not steady shows no shape, if it shows none; else "".

    It shows none when a reading says nothing about the next (the report's ACF at lag 1
    within its 95% band), the time of day explains nothing (cycle), and the readings scatter
    evenly around their mean (median at least SCATTER of it) instead of sitting on a base with
    peaks above it, as a load's appliances put them even when each peak lasts one reading.
    """
    if cycle.present:
        return ""
    memory, chance = persistence(series)
    middle = float(series.median() / series.mean())
    if not memory <= chance or middle < SCATTER:
        return ""
    return (
        "no shape to read: a reading says nothing about the next (lag-1 autocorrelation "
        f"{memory:.2f}, within the ±{chance:.2f} chance gives), the time of day explains no "
        f"more than chance (p = {cycle.p_value:.2f}) and the readings scatter evenly around "
        f"their mean (median {middle:.0%} of it), with no base below peaks: readings that vary "
        "at random show neither a load's nor a generator's pattern"
    )


def _verdict(
    series: pd.Series, *, tz: tzinfo, direction: Direction | None, reason: str = ""
) -> Verdict:
    step = detect_interval(series)
    per_day = int(pd.Timedelta(days=1) / step)
    expected = int((series.index.max() - series.index.min()) / step) + 1 if len(series) else 0
    completeness = len(series) / expected if expected else 0.0
    values = features(series, tz=tz, step=step) if len(series) > 1 else {"_whole_days": 0.0}
    whole_days = int(values.pop("_whole_days"))
    cycle = daily_cycle(series, tz=tz) if len(series) > 1 else None
    if cycle is not None:
        values["cycle_excess"] = cycle.explained - cycle.baseline
    missing = reason or _missing(
        series, whole_days=whole_days, per_day=per_day, completeness=completeness
    )
    by_kind = scores(values) if not missing else {}
    if not missing and not by_kind[Kind.CONSTANT]:
        missing = _randomness(series, cycle=cycle)
    listed = [Feature(name, values[name], *FEATURES[name]) for name in FEATURES if name in values]
    if missing:
        return Verdict(
            Kind.UNDETERMINED, 0.0, {}, listed, None, f"undetermined: {missing}", missing, cycle
        )
    # When no kind fits every rule, the one that fits most of its rules comes first.
    closeness = {
        kind: np.mean([membership(values, rule) for rule in rules]) for kind, rules in RULES.items()
    }
    ranked = sorted(by_kind, key=lambda kind: (by_kind[kind], closeness[kind]), reverse=True)
    best, second = ranked[0], ranked[1]
    top, runner = by_kind[best], by_kind[second]
    return Verdict(
        kind=best,
        confidence=top - runner,
        scores=by_kind,
        features=listed,
        runner_up=second if runner >= CLOSE * top and runner > 0 else None,
        headline=_headline(best, values, direction),
        cycle=cycle,
    )
