"""A day-ahead forecast baseline, backtested: does any model beat seasonal naive?

The series is summed into local hours. From each origin (a local midnight) every method
forecasts the next 24 hours from the data before it alone:

- naive, one day: each hour as it was 24 hours earlier;
- naive, one week: each hour as it was 168 hours earlier;
- ETS: additive Holt-Winters (exponential smoothing of level and a daily season, statsmodels),
  fitted on up to TRAIN_DAYS days before the origin.

The origins roll over the last ORIGINS whole days that have a week of data before them. Errors
are MASE: the mean absolute error over every forecast hour, divided by the mean absolute error
of one-day naive within the data before the first origin (Hyndman and Koehler, 2006). Below 1
a method beats what yesterday's value gave in-sample; the method to use is the lowest.
"""

import warnings
from dataclasses import dataclass
from datetime import tzinfo

import numpy as np
import pandas as pd
from statsmodels.tsa.holtwinters import ExponentialSmoothing

DAY = 24
WEEK = 7 * DAY
ORIGINS = 7
TRAIN_DAYS = 28
METHODS = {
    "naive_day": "seasonal naive, one day back",
    "naive_week": "seasonal naive, one week back",
    "ets": "ETS (additive Holt-Winters, daily season)",
}


@dataclass(frozen=True)
class Backtest:
    origins: int
    mase: dict[str, float]  # method -> MASE over every forecast hour
    missing: str = ""  # why there is no backtest, when origins == 0

    @property
    def best(self) -> str | None:
        return min(self.mase, key=self.mase.get) if self.mase else None

    @property
    def model_beats_naive(self) -> bool:
        naive = min(self.mase["naive_day"], self.mase["naive_week"]) if self.mase else np.nan
        return bool(self.mase) and self.mase["ets"] < naive

    @property
    def sentence(self) -> str:
        if not self.origins:
            return f"No backtest: {self.missing}."
        numbers = ", ".join(f"{METHODS[m]} {v:.2f}" for m, v in self.mase.items())
        if self.model_beats_naive:
            verdict = "ETS beats the naive baselines"
        else:
            verdict = (
                f"no model beats the naive baseline: {METHODS[self.best]} is as good as it "
                "gets here"
            )
        return f"MASE over {self.origins} day-ahead forecasts: {numbers}; {verdict}."


def hourly(series: pd.Series, *, tz: tzinfo) -> pd.Series:
    """Energy per local hour on a complete hourly grid, NaN where a reading is missing."""
    local = series.tz_convert(tz)
    step = local.index.to_series().diff().mode()
    per_hour = int(pd.Timedelta(hours=1) / step.iloc[0]) if len(step) else 1
    sums = local.resample("h").agg(["sum", "count"])
    return sums["sum"].where(sums["count"] >= per_hour)


def _ets(history: np.ndarray) -> np.ndarray:
    filled = pd.Series(history).interpolate(limit_direction="both").to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence notes on flat or short histories
        fit = ExponentialSmoothing(
            filled, seasonal="add", seasonal_periods=DAY, initialization_method="heuristic"
        ).fit()
    return np.clip(fit.forecast(DAY), 0, None)


def backtest(series: pd.Series, *, tz: tzinfo) -> Backtest:
    """Rolling-origin day-ahead backtest of METHODS (see the module docstring)."""
    energy = hourly(series, tz=tz)
    wall = energy.index.tz_localize(None)
    midnights = np.flatnonzero((wall.hour == 0) & (np.arange(len(energy)) >= WEEK))
    values = energy.to_numpy(dtype=float)
    usable = [
        i for i in midnights if i + DAY <= len(values) and not np.isnan(values[i : i + DAY]).any()
    ]
    origins = usable[-ORIGINS:]
    if not origins:
        return Backtest(0, {}, "a backtest needs a whole local day with a week of data before it")
    history = values[: origins[0]]
    scale = np.nanmean(np.abs(history[DAY:] - history[:-DAY]))
    if not scale > 0:
        return Backtest(
            0,
            {},
            "the data before the first forecast day does not change from day "
            "to day, so no error can be scaled against it",
        )
    errors: dict[str, list[float]] = {method: [] for method in METHODS}
    for origin in origins:
        actual = values[origin : origin + DAY]
        forecasts = {
            "naive_day": values[origin - DAY : origin],
            "naive_week": values[origin - WEEK : origin - WEEK + DAY],
            "ets": _ets(values[max(0, origin - TRAIN_DAYS * DAY) : origin]),
        }
        for method, forecast in forecasts.items():
            # A forecast that would have read a missing hour is filled from the other naive.
            forecast = np.where(np.isnan(forecast), forecasts["naive_day"], forecast)
            errors[method].extend(np.abs(actual - forecast))
    mase = {method: float(np.nanmean(e) / scale) for method, e in errors.items()}
    return Backtest(len(origins), mase)
