"""Statistics of meter energy series: pure functions on pandas Series, no queries, no drawing.

A series here holds energy in kWh per interval as floats, indexed by the start of each interval
as an aware timestamp, oldest first. Calendar buckets (days, weeks, time of day) are taken in the
caller's IANA zone, so a local day is 23 or 25 hours long across a DST change. Energy is summed
when grouped; an average power in kW is energy divided by the hours it was measured over.
"""

import warnings
from dataclasses import dataclass, field
from datetime import tzinfo

import numpy as np
import pandas as pd
from statsmodels.tsa.seasonal import STL
from statsmodels.tsa.stattools import acf, pacf

DEFAULT_INTERVAL = pd.Timedelta(minutes=15)
# Interval name -> pandas frequency of its buckets (None: the readings themselves).
INTERVALS: dict[str, str | None] = {"15min": None, "hour": "h", "day": "D", "week": "W-MON"}
# The calendar length of one bucket, added in local wall time (so a day can be 23 or 25 hours).
BUCKET_LENGTH = {
    "hour": pd.Timedelta(hours=1),
    "day": pd.DateOffset(days=1),
    "week": pd.DateOffset(weeks=1),
}
# A 95% band: the usual significance level of a correlogram.
ALPHA = 0.05
# A value at or below this is taken as zero (the feed rounds to 0.1 Wh).
ZERO = 1e-9


# --- Sampling, gaps and data quality ---------------------------------------------------------


def detect_interval(series: pd.Series) -> pd.Timedelta:
    """The most common step between consecutive readings (15 minutes when it cannot be told)."""
    steps = series.index.unique().sort_values().to_series().diff().dropna()
    steps = steps[steps > pd.Timedelta(0)]
    if steps.empty:
        return DEFAULT_INTERVAL
    return pd.Timedelta(steps.mode().iloc[0])


@dataclass(frozen=True, slots=True)
class Gap:
    """A run of missing readings: [start, end), `count` intervals long."""

    start: pd.Timestamp
    end: pd.Timestamp
    count: int


def missing_ranges(series: pd.Series, *, interval: pd.Timedelta) -> list[Gap]:
    """The runs of intervals missing between the first and the last reading."""
    index = series.index.unique().sort_values()
    if len(index) < 2:
        return []
    steps = index[1:] - index[:-1]
    holes = np.flatnonzero(steps > interval)
    return [
        Gap(index[i] + interval, index[i + 1], int(steps[i] // interval) - 1)
        for i in holes
        if steps[i] // interval > 1
    ]


def regular(series: pd.Series, *, interval: pd.Timedelta) -> pd.Series:
    """The series on a complete grid from its first to its last reading, NaN where missing."""
    series = series[~series.index.duplicated(keep="first")].sort_index()
    if series.empty:
        return series
    grid = pd.date_range(series.index[0], series.index[-1], freq=interval)
    return series.reindex(grid)


@dataclass(frozen=True, slots=True)
class Quality:
    """The data-quality summary of one series."""

    first: pd.Timestamp | None
    last: pd.Timestamp | None
    interval: pd.Timedelta
    readings: int
    expected: int
    missing: list[Gap]
    missing_count: int
    duplicates: int
    zeros: int
    negatives: int
    minimum: float
    mean: float
    median: float
    maximum: float
    total: float

    @property
    def completeness(self) -> float:
        return (self.readings - self.duplicates) / self.expected if self.expected else 0.0

    @property
    def span(self) -> pd.Timedelta:
        if self.first is None or self.last is None:
            return pd.Timedelta(0)
        return self.last + self.interval - self.first

    @property
    def span_days(self) -> float:
        return self.span / pd.Timedelta(days=1)

    @property
    def interval_minutes(self) -> float:
        return self.interval / pd.Timedelta(minutes=1)


def quality(series: pd.Series) -> Quality:
    """Span, sampling interval, counts, gaps and the distribution of the values."""
    interval = detect_interval(series)
    nan = float("nan")
    if series.empty:
        return Quality(None, None, interval, 0, 0, [], 0, 0, 0, 0, nan, nan, nan, nan, 0.0)
    first, last = series.index.min(), series.index.max()
    gaps = missing_ranges(series, interval=interval)
    return Quality(
        first=first,
        last=last,
        interval=interval,
        readings=len(series),
        expected=int((last - first) // interval) + 1,
        missing=gaps,
        missing_count=sum(gap.count for gap in gaps),
        duplicates=int(series.index.duplicated().sum()),
        zeros=int((series.abs() <= ZERO).sum()),
        negatives=int((series < -ZERO).sum()),
        minimum=float(series.min()),
        mean=float(series.mean()),
        median=float(series.median()),
        maximum=float(series.max()),
        total=float(series.sum()),
    )


# --- Grouping into longer intervals ----------------------------------------------------------


def grouped(series: pd.Series, *, interval: str, tz: tzinfo) -> pd.DataFrame:
    """Buckets of `interval` in local time: energy (kWh, summed), mean reading, mean power.

    Columns: `energy` (sum, kWh), `mean` (mean reading, kWh per reading), `power` (mean power in
    kW over the readings present), `readings`, `expected` (readings a full bucket holds) and
    `complete`. Buckets at the edges of the range or with gaps are marked incomplete, so a
    partial day is never read as a low day.
    """
    if interval not in INTERVALS:
        raise ValueError(f"unknown interval {interval!r}")
    step = detect_interval(series)
    hours = step / pd.Timedelta(hours=1)
    local = series.tz_convert(tz)
    freq = INTERVALS[interval]
    if freq is None:
        frame = pd.DataFrame({"energy": local, "mean": local, "readings": 1, "expected": 1})
    else:
        buckets = local.resample(freq, label="left", closed="left")
        frame = buckets.agg(["sum", "mean", "count"]).rename(
            columns={"sum": "energy", "count": "readings"}
        )
        ends = frame.index + BUCKET_LENGTH[interval]
        frame["expected"] = ((ends - frame.index) / step).astype(int)
    frame["power"] = frame["mean"] / hours
    frame["complete"] = frame["readings"] >= frame["expected"]
    return frame[["energy", "mean", "power", "readings", "expected", "complete"]]


@dataclass(frozen=True, slots=True)
class GroupingSummary:
    """One row of the table comparing the groupings: what a typical bucket holds."""

    interval: str
    buckets: int
    complete: int
    mean_energy: float
    max_energy: float
    mean_power: float


def grouping_summaries(series: pd.Series, *, tz: tzinfo) -> list[GroupingSummary]:
    """For each interval, the mean and largest energy of its complete buckets."""
    rows = []
    for name in INTERVALS:
        frame = grouped(series, interval=name, tz=tz)
        full = frame[frame["complete"]]
        rows.append(
            GroupingSummary(
                interval=name,
                buckets=len(frame),
                complete=len(full),
                mean_energy=float(full["energy"].mean()) if len(full) else float("nan"),
                max_energy=float(full["energy"].max()) if len(full) else float("nan"),
                mean_power=float(full["power"].mean()) if len(full) else float("nan"),
            )
        )
    return rows


# --- Profiles --------------------------------------------------------------------------------

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class Profiles:
    """Means by local time of day (kWh per reading), by weekday (kWh per day), and a heatmap."""

    time_of_day: pd.Series
    weekday: pd.Series
    weekend: pd.Series
    by_weekday: pd.Series
    days_by_weekday: pd.Series
    heatmap: pd.DataFrame


def _slot_label(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def profiles(series: pd.Series, *, tz: tzinfo) -> Profiles:
    """Daily and weekly profiles in local time, from one pass over the series.

    Readings are grouped by integer keys (minute of the day, local date) and labelled only at
    the end: grouping on strings or date objects costs pandas ten times as much.
    """
    local = series.tz_convert(tz)
    wall = local.index.tz_localize(None)
    minute = pd.Index(wall.hour * 60 + wall.minute, name="time of day")
    day = pd.Index(wall.normalize(), name="date")
    is_weekend = wall.day_of_week >= 5
    values = local.to_numpy(dtype=float)

    def by_minute(mask: np.ndarray) -> pd.Series:
        means = pd.Series(values[mask]).groupby(minute[mask].to_numpy()).mean()
        return means.rename(index=_slot_label)

    daily = grouped(series, interval="day", tz=tz)
    full_days = daily[daily["complete"]]
    weekday_names = dict(enumerate(WEEKDAYS))
    weekdays = full_days["energy"].groupby(full_days.index.day_of_week)
    heatmap = pd.DataFrame(
        {"day": day.to_numpy(), "minute": minute.to_numpy(), "value": values}
    ).pivot_table(index="day", columns="minute", values="value", aggfunc="mean")
    heatmap.index = [stamp.date() for stamp in heatmap.index]
    heatmap.columns = [_slot_label(m) for m in heatmap.columns]
    everything = np.ones(len(values), dtype=bool)
    return Profiles(
        time_of_day=by_minute(everything),
        weekday=by_minute(~is_weekend),
        weekend=by_minute(is_weekend),
        by_weekday=weekdays.mean().rename(index=weekday_names),
        days_by_weekday=weekdays.count().rename(index=weekday_names),
        heatmap=heatmap,
    )


# --- Is there a daily cycle? -----------------------------------------------------------------

# Shuffles of the baseline: the smallest p-value it can show is 1 / (SHUFFLES + 1) = 0.005.
SHUFFLES = 199


@dataclass(frozen=True, slots=True)
class DailyCycle:
    """Whether the local time of day predicts a reading: the one test of a daily cycle.

    `explained` is the share of the readings' variance that their mean by time of day explains
    (eta squared). Any profile explains some, noise included, so it is set against the same
    readings shuffled across the times of day: `baseline` is the 95th percentile of the
    shuffles' shares and `p_value` the share of shuffles explaining as much (with the observed
    one counted). A cycle is present when p < ALPHA.
    """

    explained: float
    baseline: float
    p_value: float
    shuffles: int

    @property
    def present(self) -> bool:
        return self.p_value < ALPHA

    @property
    def numbers(self) -> str:
        return (
            f"the time of day explains {self.explained:.1%} of the readings' variance, against "
            f"{self.baseline:.1%} (95th percentile) for the same readings shuffled across the "
            f"times of day ({self.shuffles} shuffles, p = {self.p_value:.3f})"
        )

    @property
    def sentence(self) -> str:
        if self.present:
            return f"Daily cycle: {self.numbers}; the time of day predicts the value."
        return (
            f"No daily cycle: {self.numbers}; the profile by time of day is no more than "
            "shuffled readings give, so its peaks are noise."
        )


def _explained_by(values: np.ndarray, slots: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Eta squared of each row of `values` grouped by `slots` (0..n-1, `counts` per slot)."""
    centred = values - values.mean(axis=-1, keepdims=True)
    total = (centred**2).sum(axis=-1)
    sums = np.stack([np.bincount(slots, weights=row, minlength=len(counts)) for row in centred])
    between = (sums**2 / counts).sum(axis=-1)
    return np.divide(between, total, out=np.zeros_like(total), where=total > 0)


def daily_cycle(series: pd.Series, *, tz: tzinfo, shuffles: int = SHUFFLES) -> DailyCycle:
    """The daily-cycle test of DailyCycle, on the readings present (a fixed seed: the same
    series always gets the same answer)."""
    local = series.tz_convert(tz)
    minute = local.index.hour * 60 + local.index.minute
    slots, _labels = pd.factorize(minute)
    counts = np.bincount(slots)
    values = local.to_numpy(dtype=float)
    observed = float(_explained_by(values[np.newaxis], slots, counts)[0])
    rng = np.random.default_rng(0)
    shuffled = _explained_by(rng.permuted(np.tile(values, (shuffles, 1)), axis=1), slots, counts)
    return DailyCycle(
        explained=observed,
        baseline=float(np.quantile(shuffled, 0.95)),
        p_value=float((1 + (shuffled >= observed).sum()) / (shuffles + 1)),
        shuffles=shuffles,
    )


# --- Autocorrelation -------------------------------------------------------------------------


@dataclass(frozen=True)
class Autocorrelation:
    """ACF and PACF with their 95% bands (half-widths around zero) and the marked lags."""

    acf: np.ndarray
    acf_band: np.ndarray
    pacf: np.ndarray
    pacf_band: np.ndarray
    per_day: int
    per_week: int
    # lag -> (ACF, band half-width at that lag); only lags the series is long enough for.
    marked: dict[int, tuple[float, float]] = field(default_factory=dict)
    reading: list[str] = field(default_factory=list)

    def at(self, lag: int) -> float:
        return float(self.acf[lag])


def _acf(values: np.ndarray, nlags: int) -> tuple[np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        # statsmodels announces a change of its return type; the tuple is what is used here.
        warnings.simplefilter("ignore", FutureWarning)
        coefficients, confint = acf(
            values, nlags=nlags, alpha=ALPHA, missing="conservative", fft=False
        )
    return coefficients, confint[:, 1] - coefficients


def persistence(series: pd.Series) -> tuple[float, float]:
    """The ACF at lag 1 and the half-width of its 95% band, as autocorrelation gives them
    (NaN and 0 when the series cannot give them)."""
    values = regular(series, interval=detect_interval(series)).to_numpy(dtype=float)
    if len(values) < 3 or np.nanstd(values) == 0:
        return np.nan, 0.0
    coefficients, band = _acf(values, 1)
    return float(coefficients[1]), float(band[1])


def autocorrelation(series: pd.Series, *, weeks: int = 2) -> Autocorrelation:
    """ACF and PACF over `weeks` weeks of lags, at the series' own sampling interval.

    Missing intervals stay missing for the ACF (statsmodels' conservative mode); the PACF,
    which needs a gap-free series, is taken on the series with gaps linearly interpolated.
    The PACF uses Burg's method: the Yule-Walker fit takes seconds at a thousand lags.
    """
    interval = detect_interval(series)
    per_day = int(pd.Timedelta(days=1) / interval)
    per_week = 7 * per_day
    grid = regular(series, interval=interval)
    values = grid.to_numpy(dtype=float)
    n = len(values)
    nlags = min(weeks * per_week, n - 1)
    if nlags < 1 or np.nanstd(values) == 0:
        empty = np.array([1.0])
        return Autocorrelation(empty, np.zeros(1), empty, np.zeros(1), per_day, per_week)
    coefficients, band = _acf(values, nlags)
    filled = grid.interpolate(limit_direction="both").to_numpy(dtype=float)
    pacf_lags = max(1, min(nlags, n // 2 - 1))
    partial = pacf(filled, nlags=pacf_lags, method="burg")
    pacf_band = np.full(len(partial), 1.96 / np.sqrt(n))
    pacf_band[0] = 0.0
    marked = {
        lag: (float(coefficients[lag]), float(band[lag]))
        for lag in (1, per_day, per_week)
        if lag <= nlags
    }
    return Autocorrelation(
        coefficients,
        band,
        partial,
        pacf_band,
        per_day,
        per_week,
        marked,
        acf_reading(marked, per_day=per_day, per_week=per_week),
    )


def acf_reading(
    marked: dict[int, tuple[float, float]], *, per_day: int, per_week: int
) -> list[str]:
    """What the ACF at one step, one day and one week says, in sentences with the numbers."""
    lines = []
    if 1 in marked:
        r1 = marked[1][0]
        strength = "strong" if r1 >= 0.8 else "moderate" if r1 >= 0.5 else "weak"
        lines.append(
            f"Persistence is {strength}: ACF at lag 1 is {r1:.2f}, so one interval's value "
            + ("carries over into the next." if r1 >= 0.5 else "says little about the next.")
        )
    if per_day in marked:
        # What the lag says about one reading and the one a day later; whether the time of day
        # predicts the value is daily_cycle's test, not this.
        r, band = marked[per_day]
        if r > band and r >= 0.2:
            lines.append(
                f"ACF at lag {per_day} (one day) is {r:.2f}, above the 95% band of ±{band:.2f}: "
                "a reading resembles the one at the same time a day earlier."
            )
        else:
            lines.append(
                f"ACF at lag {per_day} (one day) is {r:.2f} (95% band ±{band:.2f}): a reading "
                "says little about the one at the same time a day later."
            )
    if per_week in marked:
        r, band = marked[per_week]
        r_day = marked.get(per_day, (0.0, 0.0))[0]
        if r > band and r >= 0.2 and r > r_day + 0.05:
            lines.append(
                f"Weekly cycle: ACF at lag {per_week} (one week) is {r:.2f}, above the one-day "
                f"value {r_day:.2f}; the same weekday looks alike."
            )
        elif r_day >= 0.2:
            lines.append(
                f"No weekly cycle beyond the daily one: ACF at lag {per_week} (one week) is "
                f"{r:.2f} against {r_day:.2f} at one day (95% band ±{band:.2f})."
            )
        else:
            lines.append(
                f"No weekly cycle: ACF at lag {per_week} (one week) is {r:.2f} "
                f"(95% band ±{band:.2f})."
            )
    return lines


# --- Decomposition and periods ---------------------------------------------------------------


@dataclass(frozen=True)
class Decomposition:
    """STL with a period of one day, and the periodogram's strongest periods."""

    observed: pd.Series
    # NaN for half a trend window at each end, where STL's trend smoother runs out of data
    # and bends towards the edge values (it drew the consumer's trend starting from zero).
    trend: pd.Series
    seasonal: pd.Series
    resid: pd.Series
    # 1 - Var(resid) / Var(seasonal + resid): 0 is no daily cycle, 1 a pure one.
    seasonal_strength: float
    # Mean daily swing (max - min) of the seasonal component, kWh per reading.
    seasonal_range: float
    # (period in hours, share of the variance), strongest first.
    periods: list[tuple[float, float]]
    # The whole periodogram: share of the variance by period in hours, longest period first.
    spectrum: pd.Series


def periodogram(values: np.ndarray, *, hours_per_step: float) -> pd.Series:
    """The share of the variance at each Fourier period (hours) of a gap-free series."""
    centred = values - values.mean()
    power = (np.abs(np.fft.rfft(centred)) ** 2)[1:]
    freqs = np.fft.rfftfreq(len(centred), d=hours_per_step)[1:]
    total = power.sum()
    shares = power / total if total > 0 else np.zeros_like(power)
    return pd.Series(shares, index=pd.Index(1 / freqs, name="period (hours)"))


def main_periods(values: np.ndarray, *, hours_per_step: float, top: int = 3) -> list[tuple]:
    """The periods (hours) carrying the most variance in the periodogram, with their share."""
    spectrum = periodogram(values, hours_per_step=hours_per_step)
    power = spectrum.to_numpy()
    if power.sum() == 0:
        return []
    # Local maxima only, so that one broad peak is not reported as three neighbouring periods.
    padded = np.concatenate(([-np.inf], power, [-np.inf]))
    peaks = np.flatnonzero((power >= padded[:-2]) & (power > padded[2:]))
    strongest = peaks[np.argsort(power[peaks])[::-1][:top]]
    return [(float(spectrum.index[i]), float(power[i])) for i in strongest]


def decomposition(series: pd.Series) -> Decomposition | None:
    """The daily cycle separated by STL (None for less than two days of readings)."""
    interval = detect_interval(series)
    per_day = int(pd.Timedelta(days=1) / interval)
    grid = regular(series, interval=interval).interpolate(limit_direction="both")
    if len(grid) < 2 * per_day or grid.std() == 0:
        return None
    # Trend and low-pass smoothers evaluated every tenth point and interpolated, as R's stl()
    # does by default: ten times faster, and the daily component stays the same (to 1e-4).
    jump = max(1, per_day // 10)
    fit = STL(grid.to_numpy(dtype=float), period=per_day, trend_jump=jump, low_pass_jump=jump).fit()
    seasonal = pd.Series(fit.seasonal, index=grid.index)
    resid = pd.Series(fit.resid, index=grid.index)
    detrended = np.var(fit.seasonal + fit.resid)
    strength = max(0.0, 1 - np.var(fit.resid) / detrended) if detrended > 0 else 0.0
    swing = seasonal.groupby(seasonal.index.floor("D")).agg(lambda day: day.max() - day.min())
    trend = pd.Series(fit.trend, index=grid.index)
    edge = _trend_edge(per_day)
    trend.iloc[:edge] = np.nan
    trend.iloc[len(trend) - edge :] = np.nan
    hours_per_step = interval / pd.Timedelta(hours=1)
    values = grid.to_numpy(dtype=float)
    return Decomposition(
        observed=grid,
        trend=trend,
        seasonal=seasonal,
        resid=resid,
        seasonal_strength=float(strength),
        seasonal_range=float(swing.mean()),
        periods=main_periods(values, hours_per_step=hours_per_step),
        spectrum=periodogram(values, hours_per_step=hours_per_step),
    )


def _trend_edge(period: int) -> int:
    """Half the trend window statsmodels' STL uses by default for `period` (seasonal=7)."""
    window = int(np.ceil(1.5 * period / (1 - 1.5 / 7)))
    return (window + (window % 2 == 0)) // 2


# --- Comparing units -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Netting:
    """Whether an import series drops while an export series rises."""

    importer: str
    exporter: str
    correlation: float
    exporting_intervals: int
    import_while_exporting: float  # mean kWh per reading
    import_same_hours_otherwise: float  # same local hours, no export
    both_nonzero_share: float
    nets: bool

    @property
    def ratio(self) -> float:
        if self.import_same_hours_otherwise <= 0:
            return float("nan")
        return self.import_while_exporting / self.import_same_hours_otherwise


def correlations(frame: pd.DataFrame, *, tz: tzinfo) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pearson correlations between the columns: per reading, and of complete local days."""
    aligned = frame.dropna()
    daily = {column: grouped(aligned[column], interval="day", tz=tz) for column in aligned.columns}
    complete = np.logical_and.reduce([d["complete"].to_numpy() for d in daily.values()])
    days = pd.DataFrame({c: d["energy"].to_numpy()[complete] for c, d in daily.items()})
    return aligned.corr(), days.corr()


def netting(importer: pd.Series, exporter: pd.Series, *, tz: tzinfo) -> Netting | None:
    """Does import drop while export rises, in the hours of the day when export happens?

    One site behind one meter nets its own generation: while it exports it does not import,
    so import falls towards zero exactly when export rises. Separate sites show no such link.
    The comparison is made within the same local hours, so the daily cycle alone cannot fake it.
    The verdict rests on that drop and on how often both flow at once; the correlation over all
    readings is reported, but nights, when neither moves, dilute it.
    """
    both = pd.concat({"imp": importer, "exp": exporter}, axis=1).dropna()
    exporting = both["exp"] > ZERO
    if not exporting.any() or exporting.all():
        return None
    hours = both.index.tz_convert(tz).hour
    export_hours = set(hours[exporting.to_numpy()])
    in_hours = np.isin(hours, list(export_hours))
    while_exporting = float(both.loc[exporting, "imp"].mean())
    otherwise = both.loc[in_hours & ~exporting.to_numpy(), "imp"]
    otherwise_mean = float(otherwise.mean()) if len(otherwise) else float("nan")
    correlation = float(both["imp"].corr(both["exp"]))
    both_nonzero = float((both.loc[exporting, "imp"] > ZERO).mean())
    drops = bool(otherwise_mean > 0 and while_exporting < 0.5 * otherwise_mean)
    return Netting(
        importer=str(importer.name),
        exporter=str(exporter.name),
        correlation=correlation,
        exporting_intervals=int(exporting.sum()),
        import_while_exporting=while_exporting,
        import_same_hours_otherwise=otherwise_mean,
        both_nonzero_share=both_nonzero,
        nets=drops and both_nonzero < 0.5,
    )
