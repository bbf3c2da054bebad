"""The unit set against BDEW's 2025 standard load profiles, scaled to its energy.

The profiles come from the `demandlib` package (oemof, MIT licence), which ships BDEW's 2025
tables: H25 (households), G25 (commerce) and P25 (households with photovoltaics, their grid
import). A profile gives a power for each quarter-hour of local time by month and day type
(working day, Saturday, Sunday or holiday); H25 and P25 are also scaled by BDEW's
dynamisation polynomial of the day of the year. No holidays are set: Switzerland's vary by
canton, so a holiday counts as the weekday it falls on.

Each profile is taken at the unit's own readings (same local days and times) and scaled so
that it delivers the unit's energy over them; then compared by time of day (correlation of the
two mean daily profiles) and reading by reading (normalised mean absolute error: the share of
the unit's energy that the profile puts in the wrong interval, 0 for a perfect fit).
"""

import warnings
from dataclasses import dataclass
from datetime import tzinfo

import numpy as np
import pandas as pd
from demandlib import bdew

from analysis.stats import detect_interval

PROFILES = {
    "H25": (bdew.H25, "household"),
    "G25": (bdew.G25, "commerce"),
    "P25": (bdew.P25, "household with PV (grid import)"),
}


@dataclass(frozen=True)
class ProfileFit:
    name: str
    description: str
    correlation: float  # of the two mean profiles by local time of day
    error: float  # sum |unit - profile| / sum unit, per reading
    # Mean by local time of day (HH:MM), kWh per reading: the profile scaled to the unit.
    time_of_day: pd.Series


@dataclass(frozen=True)
class Comparison:
    fits: list[ProfileFit]  # in PROFILES order
    unit_time_of_day: pd.Series

    @property
    def best(self) -> ProfileFit | None:
        usable = [fit for fit in self.fits if not np.isnan(fit.error)]
        return min(usable, key=lambda fit: fit.error) if usable else None


def profile_at(name: str, local_index: pd.DatetimeIndex, *, step: pd.Timedelta) -> np.ndarray:
    """BDEW profile `name` in kW (1 GWh a year) at each local wall time of `local_index`."""
    wall = local_index.tz_localize(None)
    days = wall.normalize()
    grid = pd.date_range(days.min(), days.max() + pd.Timedelta(days=1), freq=step, inclusive="left")
    with warnings.catch_warnings():
        # demandlib 0.2.2 renames and re-indexes in place, which pandas 3.1 deprecates.
        warnings.simplefilter("ignore", pd.errors.Pandas4Warning)
        table = PROFILES[name][0](grid)
    values = pd.Series(np.asarray(table, dtype=float), index=grid)
    # The hour repeated when DST ends reads the same table row twice; the skipped one, none.
    return values.reindex(wall).to_numpy()


def _time_of_day(values: np.ndarray, wall: pd.DatetimeIndex) -> pd.Series:
    labels = wall.strftime("%H:%M")
    return pd.Series(values, index=labels).groupby(level=0).mean()


def compare(series: pd.Series, *, tz: tzinfo) -> Comparison:
    """Each profile of PROFILES against the series (see the module docstring)."""
    step = detect_interval(series)
    local = series.tz_convert(tz)
    wall = local.index.tz_localize(None)
    values = local.to_numpy(dtype=float)
    energy = values.sum()
    unit_tod = _time_of_day(values, wall)
    fits = []
    for name, (_cls, description) in PROFILES.items():
        profile = profile_at(name, local.index, step=step)
        scaled = profile * (energy / profile.sum()) if profile.sum() > 0 else profile * np.nan
        profile_tod = _time_of_day(scaled, wall)
        error = np.abs(values - scaled).sum() / energy if energy > 0 else np.nan
        correlation = unit_tod.corr(profile_tod) if unit_tod.std() > 0 else np.nan
        fits.append(ProfileFit(name, description, float(correlation), float(error), profile_tod))
    return Comparison(fits=fits, unit_time_of_day=unit_tod)
