"""The figures a utility analyst reads off a load: peaks, base load, load factor, utilisation
hours, annual energy and the load duration curve. Pure functions on an energy series (kWh per
interval, aware UTC index), like analysis.stats.

Power is a reading's energy over its interval's hours, so a peak is the highest mean power over
one interval (at 15 minutes, the quarter-hour peak a tariff bills).
"""

from dataclasses import dataclass
from datetime import tzinfo

import numpy as np
import pandas as pd

from analysis.stats import detect_interval

HOURS_PER_YEAR = 8760


@dataclass(frozen=True)
class LoadFigures:
    """Peaks with their local start times, base load, load factor and duration curve."""

    energy: float  # kWh, the readings present
    mean_power: float  # kW over the readings present
    peak_power: float  # kW
    peak_at: pd.Timestamp  # local start of the peak interval
    base_load: float  # kW: the median of each whole day's lowest power
    daily_peaks: pd.DataFrame  # local date -> peak (kW), at (local start)
    monthly_peaks: pd.DataFrame  # local month -> peak (kW), at (local start)
    duration: pd.Series  # kW, largest first, indexed by the hours at or above it

    @property
    def load_factor(self) -> float:
        """Mean power over peak power: 1 is a flat load, near 0 a load of rare peaks."""
        return self.mean_power / self.peak_power if self.peak_power > 0 else float("nan")

    @property
    def annual_energy(self) -> float:
        """kWh a year at the mean power of the readings present."""
        return self.mean_power * HOURS_PER_YEAR

    @property
    def utilisation_hours(self) -> float:
        """Hours a year at peak power that would deliver the annual energy."""
        return self.annual_energy / self.peak_power if self.peak_power > 0 else float("nan")


def _peaks(power: pd.Series, keys: pd.Index) -> pd.DataFrame:
    grouped = power.groupby(keys)
    at = grouped.idxmax()
    return pd.DataFrame({"peak": grouped.max(), "at": at})


def load_figures(series: pd.Series, *, tz: tzinfo) -> LoadFigures:
    """The load figures of a series with at least one reading."""
    step = detect_interval(series)
    hours = step / pd.Timedelta(hours=1)
    power = (series / hours).tz_convert(tz)
    wall = power.index.tz_localize(None)
    days = pd.Index(wall.normalize(), name="date")
    months = pd.Index(wall.to_period("M").to_timestamp(), name="month")
    daily = _peaks(power, days)
    per_day = int(pd.Timedelta(days=1) / step)
    counts = power.groupby(days).count()
    lows = power.groupby(days).min()
    # Whole days only (a day holds 92 or 100 readings across DST): a partial day's minimum
    # may miss the night.
    whole = lows[counts >= per_day - int(pd.Timedelta(hours=1) / step)]
    base = float((whole if len(whole) else lows).median())
    ordered = np.sort(power.to_numpy(dtype=float))[::-1]
    duration = pd.Series(
        ordered, index=pd.Index(np.arange(1, len(ordered) + 1) * hours, name="hours")
    )
    return LoadFigures(
        energy=float(series.sum()),
        mean_power=float(power.mean()),
        peak_power=float(power.max()),
        peak_at=power.idxmax(),
        base_load=base,
        daily_peaks=daily,
        monthly_peaks=_peaks(power, months),
        duration=duration,
    )
