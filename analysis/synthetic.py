"""Synthetic units of every kind a grid operator meets, to test the hypothesis against.

Each generator returns what a meter's channel holds: kWh per 15-minute interval, indexed by
the UTC start of each interval, over whole local days in Europe/Zurich. The shapes follow the
physics of each kind, with a seeded random generator for the habits and the weather, so that
a seed always gives the same unit:

- household: a standby base, a fridge's cycles, morning and evening peaks, appliances switched
  on at random times (short spikes of different sizes), more daytime use at weekends;
- heating (heat pump or electric heating): a compressor or element switching on and off at its
  rated power around the clock, more often in the cold night and morning (a heating month);
- EV at home: blocks of 3.7, 7.4 or 11 kW from the evening, of the energy the day's driving
  used, on most days; EV at work: the same on weekday mornings, nothing at weekends or nights;
- night-only: storage heaters on the night tariff (22:00-06:00) or lighting from dusk to dawn;
- commercial: an office's weekday working hours over a base load, quiet weekends;
- prosumer import: a household's load less its own rooftop PV, never below zero;
- PV: a clear-sky bell from the sun's position at a site anywhere in Switzerland, scaled by
  each day's weather (with cloudy weeks) and passing clouds;
- battery: a storage unit charging (or discharging) its capacity every day on a timer;
- wind: a turbine's output from a wind speed that drifts with the weather over days and gusts
  from one quarter hour to the next (cubic from 3 m/s, rated from 12 m/s), day and night alike;
- constant: a near-constant load (a server room, a pump), with small noise.

`gaps=True` cuts a few runs of hours and scattered single readings, as a real feed has.
"""

from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from analysis import sun
from analysis.kinds import Kind, verdict

ZURICH = ZoneInfo("Europe/Zurich")
STEP_HOURS = 0.25
PER_DAY = 96


@dataclass(frozen=True)
class Frame:
    """The grid a generator fills: local wall time in hours, per-day arrays, and the index."""

    index: pd.DatetimeIndex  # UTC
    hours: np.ndarray  # local hour of the day as a float
    day: np.ndarray  # 0-based day number of each reading
    weekday: np.ndarray  # 0 = Monday
    days: int
    rng: np.random.Generator

    def per_day(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(values)[self.day]


def _frame(start: str, days: int, seed: int) -> Frame:
    local = pd.date_range(
        start,
        pd.Timestamp(start) + pd.Timedelta(days=days),
        freq="15min",
        tz=ZURICH,
        inclusive="left",
    )
    dates = local.normalize()
    day = ((dates - dates[0]) / pd.Timedelta(days=1)).round().astype(int).to_numpy()
    return Frame(
        index=local.tz_convert("UTC"),
        hours=(local.hour + local.minute / 60).to_numpy(dtype=float),
        day=day,
        weekday=local.day_of_week.to_numpy(),
        days=int(day.max()) + 1,
        rng=np.random.default_rng(seed),
    )


def _bump(hours: np.ndarray, centre: float, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((hours - centre) / width) ** 2)


def _blocks(frame: Frame, starts: np.ndarray, energy: np.ndarray, power: float) -> np.ndarray:
    """kWh per reading of one block a day at constant `power` from local hour `starts[d]` until
    `energy[d]` kWh is delivered (NaN start: no block that day)."""
    kwh = np.zeros(len(frame.index))
    per_step = power * STEP_HOURS
    for d in range(frame.days):
        if np.isnan(starts[d]) or energy[d] <= 0:
            continue
        slots = np.flatnonzero((frame.day == d) & (frame.hours >= starts[d]))
        remaining = energy[d]
        for slot in slots:
            kwh[slot] = min(per_step, remaining)
            remaining -= kwh[slot]
            if remaining <= 0:
                break
    return kwh


def household(frame: Frame) -> np.ndarray:
    rng, h = frame.rng, frame.hours
    base = rng.uniform(0.04, 0.09)
    weekend = frame.weekday >= 5
    fridge = 0.08 * (((h * 60) // 20 + frame.day) % 3 == 0)
    shape = (
        0.25 * _bump(h, 7.2, 0.7)
        + 0.15 * weekend * _bump(h, 12.5, 2.0)
        + 0.45 * _bump(h, 19.5, 1.6)
        + 0.05 * _bump(h, 13, 2.5)
    )
    scale = frame.per_day(rng.uniform(0.7, 1.3, frame.days))
    spikes = (rng.random(len(h)) < 0.04) * rng.uniform(0.5, 2.5, len(h))
    return (base + fridge + shape * scale + spikes) * STEP_HOURS


def heating(frame: Frame) -> np.ndarray:
    rng, h = frame.rng, frame.hours
    power = rng.uniform(2.0, 4.5)
    daily_cold = frame.per_day(rng.uniform(0.5, 1.0, frame.days))
    # Colder at night and in the morning: the heating runs a larger share of each hour.
    duty = np.clip(daily_cold * (0.45 + 0.2 * np.cos(2 * np.pi * (h - 5) / 24)), 0.05, 0.95)
    on, state = np.zeros(len(h)), False
    for i in range(len(h)):
        # A thermostat: switches off less often, and on more often, the higher the duty.
        state = rng.random() > (1 - duty[i]) * 0.6 if state else rng.random() < duty[i] * 0.6
        on[i] = state
    standby = rng.uniform(0.01, 0.03)
    return (standby + power * on * rng.uniform(0.97, 1.0, len(h))) * STEP_HOURS


def _ev(frame: Frame, *, starts: np.ndarray, charge_days: np.ndarray) -> np.ndarray:
    rng = frame.rng
    power = float(rng.choice([3.7, 7.4, 11.0]))
    energy = rng.uniform(4, 30, frame.days) * charge_days
    return _blocks(frame, np.where(charge_days, starts, np.nan), energy, power)


def ev_home(frame: Frame) -> np.ndarray:
    rng = frame.rng
    habit = rng.uniform(17.5, 22.0)
    starts = np.clip(habit + rng.normal(0, 0.8, frame.days), 16, 23.5)
    return _ev(frame, starts=np.round(starts * 4) / 4, charge_days=rng.random(frame.days) < 0.7)


def ev_work(frame: Frame) -> np.ndarray:
    rng = frame.rng
    weekdays = np.array([frame.weekday[frame.day == d][0] < 5 for d in range(frame.days)])
    starts = np.clip(rng.uniform(7.5, 9.5) + rng.normal(0, 0.5, frame.days), 7, 11)
    charge = weekdays & (rng.random(frame.days) < 0.85)
    return _ev(frame, starts=np.round(starts * 4) / 4, charge_days=charge)


def night_only(frame: Frame) -> np.ndarray:
    rng, h = frame.rng, frame.hours
    power = rng.uniform(1.0, 6.0)
    if rng.random() < 0.5:
        # Storage heaters on the night tariff, charging less after a mild day.
        on = (h >= 22) | (h < 6)
        level = frame.per_day(rng.uniform(0.5, 1.0, frame.days))
        return power * on * level * STEP_HOURS
    # Lighting switched by a dusk sensor.
    dark = sun.elevation(sun.midpoints(frame.index, pd.Timedelta(minutes=15))) < -1
    return power * dark * rng.uniform(0.98, 1.0, len(h)) * STEP_HOURS


def commercial(frame: Frame) -> np.ndarray:
    rng, h = frame.rng, frame.hours
    base = rng.uniform(2, 6)
    peak = rng.uniform(10, 30)
    working = (frame.weekday < 5) & (h >= 7) & (h < 18.5)
    ramp = np.clip((h - 6.5) / 1.5, 0, 1) * np.clip((18.5 - h) / 1.0, 0, 1)
    lunch = 1 - 0.15 * _bump(h, 12.5, 0.6)
    busy = frame.per_day(rng.uniform(0.85, 1.1, frame.days))
    noise = rng.normal(1, 0.05, len(h))
    return (base + working * peak * ramp * lunch * busy) * noise.clip(0.8) * STEP_HOURS


def pv(frame: Frame) -> np.ndarray:
    rng = frame.rng
    latitude, longitude = rng.uniform(45.8, 47.8), rng.uniform(6.0, 10.4)
    kwp = rng.uniform(3, 20)
    elevation = sun.elevation(
        sun.midpoints(frame.index, pd.Timedelta(minutes=15)),
        latitude=latitude,
        longitude=longitude,
    )
    clear = np.clip(np.sin(np.radians(elevation)), 0, None) ** 1.2
    weather = rng.beta(2.0, 1.2, frame.days)
    # A cloudy week: a run of dull days.
    if rng.random() < 0.5:
        first = rng.integers(0, max(1, frame.days - 7))
        weather[first : first + 7] *= rng.uniform(0.05, 0.3)
    clouds = np.ones(len(clear))
    for i in range(1, len(clouds)):
        clouds[i] = np.clip(0.8 * clouds[i - 1] + 0.2 + rng.normal(0, 0.12), 0.2, 1.0)
    return np.round(0.8 * kwp * clear * frame.per_day(weather) * clouds * STEP_HOURS, 4)


def prosumer(frame: Frame) -> np.ndarray:
    load = household(frame) * frame.rng.uniform(1.2, 2.0)
    generation = pv(frame) * frame.rng.uniform(1.0, 2.0)
    return np.clip(load - generation, 0, None)


def battery(frame: Frame) -> np.ndarray:
    rng = frame.rng
    power, capacity = rng.uniform(2, 10), rng.uniform(5, 20)
    hour = rng.choice([1.0, 2.0, 17.0, 18.0])  # charging at night or discharging at the peak
    energy = capacity * rng.uniform(0.9, 1.0, frame.days)
    return _blocks(frame, np.full(frame.days, hour), energy, power)


def wind(frame: Frame) -> np.ndarray:
    rng = frame.rng
    capacity = rng.uniform(2, 50)
    # The wind speed (m/s) drifts with the weather over days, gusts from one quarter hour to
    # the next; a turbine starts at 3 m/s and gives its rated power from 12 m/s.
    mean = rng.uniform(5, 8)
    speed = np.empty(len(frame.hours))
    speed[0] = mean
    for i in range(1, len(speed)):
        speed[i] = mean + 0.995 * (speed[i - 1] - mean) + rng.normal(0, 0.35)
    speed = np.clip(speed, 0, None)
    output = np.clip((speed - 3) / 9, 0, 1) ** 3
    return capacity * output * STEP_HOURS


def constant(frame: Frame) -> np.ndarray:
    rng = frame.rng
    level = rng.uniform(0.5, 20)
    steps = frame.per_day(rng.choice([1.0, 1.0, 1.0, 0.95, 1.05], frame.days))
    return level * steps * rng.normal(1, 0.02, len(frame.hours)) * STEP_HOURS


GENERATORS: dict[str, Callable[[Frame], np.ndarray]] = {
    "household": household,
    "heating": heating,
    "ev_home": ev_home,
    "ev_work": ev_work,
    "night_only": night_only,
    "commercial": commercial,
    "prosumer": prosumer,
    "pv": pv,
    "battery": battery,
    "wind": wind,
    "constant": constant,
}
# The kind of the hypothesis (analysis.kinds) each generator's units are.
EXPECTED = {
    "household": Kind.HOUSEHOLD,
    "heating": Kind.HEATING,
    "ev_home": Kind.EV,
    "ev_work": Kind.EV,
    "night_only": Kind.NIGHT,
    "commercial": Kind.COMMERCIAL,
    "prosumer": Kind.PROSUMER,
    "pv": Kind.PV,
    "battery": Kind.BATTERY,
    "wind": Kind.WIND,
    "constant": Kind.CONSTANT,
}
# Months in which a kind is generated: a heating system runs in the heating season.
MONTHS = {"heating": (1, 2, 3, 10, 11, 12)}


def _cut_gaps(series: pd.Series, rng: np.random.Generator) -> pd.Series:
    keep = rng.random(len(series)) > 0.01
    for _ in range(rng.integers(1, 4)):
        first = rng.integers(0, len(series) - 1)
        keep[first : first + rng.integers(8, 120)] = False
    return series[keep]


def unit(
    kind: str, *, seed: int, start: str = "2023-06-01", days: int = 28, gaps: bool = False
) -> pd.Series:
    """A synthetic channel of `kind` (a key of GENERATORS): kWh per 15 minutes, UTC index."""
    frame = _frame(start, days, seed)
    values = np.round(np.clip(GENERATORS[kind](frame), 0, None), 4)
    series = pd.Series(values, index=frame.index, name=kind)
    return _cut_gaps(series, frame.rng) if gaps else series


@dataclass(frozen=True, slots=True)
class Case:
    """One synthetic unit of the evaluation set."""

    kind: str
    seed: int
    start: str
    gaps: bool

    def series(self) -> pd.Series:
        return unit(self.kind, seed=self.seed, start=self.start, gaps=self.gaps)


def cases(seeds: int = 4) -> list[Case]:
    """The evaluation set: every kind, `seeds` seeds each, each seed in another month, every
    other one with gaps."""
    all_months = (1, 3, 4, 6, 7, 9, 11, 12)
    out = []
    for kind in GENERATORS:
        months = MONTHS.get(kind, all_months)
        for seed in range(seeds):
            month = months[(seed * 3 + len(kind)) % len(months)]
            out.append(Case(kind, seed, f"2023-{month:02d}-03", gaps=seed % 2 == 1))
    return out


def confusion(cases_: list[Case], *, days: int = 28) -> pd.DataFrame:
    """Synthetic kind (rows) by the verdict's kind (columns): how many units of each."""
    rows = []
    for case in cases_:
        series = unit(case.kind, seed=case.seed, start=case.start, days=days, gaps=case.gaps)
        rows.append((case.kind, verdict(series, tz=ZURICH).kind.value))
    frame = pd.DataFrame(rows, columns=["unit", "verdict"])
    return pd.crosstab(frame["unit"], frame["verdict"]).reindex(list(GENERATORS))
