"""The two reports, built from selectors, stats and charts, and cached by the data's state.

A report is keyed by the channels' `data_changed_at` and reading count together with the
parameters, so a new ingest that changes the readings gives a new key and the stale report is
simply never read again. Building a report draws no chart: it describes each one (charts.Chart)
with the data to draw it from, and a chart is drawn when its image is asked for, from the
cached report, and cached beside it under the report's key plus its name. Views and the
export_report command both come through here.
"""

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from itertools import combinations
from typing import TypeVar
from zoneinfo import ZoneInfo

import pandas as pd
from django.conf import settings
from django.core.cache import cache

from analysis import charts, stats
from analysis.charts import Chart
from analysis.data import MEASURE_NOTES, channel_series, channel_totals, channels_frame
from analysis.params import ReportParams, resolve_window
from analysis.profile import Passport, UnitProfile, unit_profile
from meters.models import Channel, Unit
from meters.obis import Direction, ObisCode
from meters.selectors import channel_completeness, reading_span

# Bump when what a report holds changes, so that caches filled by older code are not read.
CACHE_VERSION = 7
STEP = timedelta(minutes=15)
# Gap ranges listed one by one on a page; the rest are counted.
SHOWN_GAPS = 50
# Buckets listed in the grouping table (days and weeks; hours and readings are charted only).
TABLE_INTERVALS = ("day", "week")

Report = TypeVar("Report", "UnitReport", "Overview")


def _cache_key(kind: str, *parts: object) -> str:
    digest = hashlib.sha256("|".join(str(part) for part in parts).encode()).hexdigest()
    return f"analysis:v{CACHE_VERSION}:{kind}:{digest}"


def _cached(key: str, build: Callable[[], Report]) -> Report:
    report = cache.get(key)
    if report is None:
        # The version names the data state and parameters: a chart URL that carries it changes
        # when the data does, so a browser may keep the image it has.
        report = replace(build(), version=key.rsplit(":", 1)[-1][:16])
        cache.set(key, report, settings.ANALYSIS_CACHE_TIMEOUT)
    return report


def _cached_chart(key: str, build: Callable[[], Report], *, name: str) -> str | None:
    """The SVG of chart `name` of the report cached under `key` (None: it has no such chart).

    Drawn from the cached report (built first if it is not cached) and cached itself.
    """
    chart_key = f"{key}:chart:{name}"
    svg = cache.get(chart_key)
    if svg is None:
        chart = _cached(key, build).charts.get(name)
        if chart is None:
            return None
        svg = chart.svg()
        cache.set(chart_key, svg, settings.ANALYSIS_CACHE_TIMEOUT)
    return svg


def with_chart_hrefs(report: Report, href: Callable[[str], str]) -> Report:
    """The report with each chart's `href` set to `href(name)`: where the page finds its image."""
    placed = {name: replace(chart, href=href(name)) for name, chart in report.charts.items()}
    return replace(report, charts=placed)


# --- One unit --------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitReport:
    tz: ZoneInfo
    interval: str
    start: datetime | None
    end: datetime | None
    quality: stats.Quality
    shown_gaps: list[stats.Gap] = field(default_factory=list)
    groupings: list[stats.GroupingSummary] = field(default_factory=list)
    table: list[dict] = field(default_factory=list)
    charts: dict[str, Chart] = field(default_factory=dict)
    marked: dict[int, tuple[float, float]] = field(default_factory=dict)
    per_day: int = 96
    per_week: int = 672
    acf_reading: list[str] = field(default_factory=list)
    seasonal_strength: float | None = None
    seasonal_range: float | None = None
    periods: list[tuple[float, float]] = field(default_factory=list)
    daily_cycle: stats.DailyCycle | None = None
    profile: UnitProfile | None = None
    # The daily peaks listed on the page (the most recent first); the rest are charted only.
    daily_peaks: list[dict] = field(default_factory=list)
    version: str = ""
    # How the readings were read as energy, when they are not an interval's (data.MEASURE_NOTES).
    measure_note: str = ""
    # The channel's units of interval energy and of mean power (kWh and kW, kvarh and kvar, ...).
    energy_unit: str = "kWh"
    power_unit: str = "kW"

    @property
    def empty(self) -> bool:
        return self.quality.readings == 0

    @property
    def kind_scores(self) -> list[tuple]:
        """(Kind, score), the highest first."""
        scores = self.profile.verdict.scores if self.profile else {}
        return sorted(scores.items(), key=lambda item: item[1], reverse=True)

    @property
    def monthly_peaks(self) -> list[dict]:
        """Each local month's peak (kW) and the local start of its interval."""
        if not self.profile or not self.profile.load:
            return []
        frame = self.profile.load.monthly_peaks[["peak", "at"]]
        return [{"month": m, "peak": peak, "at": at} for m, peak, at in frame.itertuples()]


def build_unit_report(
    series: pd.Series,
    *,
    obis: ObisCode,
    tz: ZoneInfo,
    interval: str,
    start: datetime | None = None,
    end: datetime | None = None,
    profile: UnitProfile | None = None,
) -> UnitReport:
    """Every statistic and chart of one channel's series (no queries); `profile` is the
    series' unit_profile when the caller has it already."""
    quality = stats.quality(series)
    unit, power_unit = units_of(obis)
    bare = UnitReport(
        tz=tz,
        interval=interval,
        start=start,
        end=end,
        quality=quality,
        measure_note=MEASURE_NOTES.get(obis.measure, ""),
        energy_unit=unit,
        power_unit=power_unit,
    )
    if quality.readings < 2:
        return bare
    per_reading = f"{unit} per {quality.interval_minutes:.0f} min"
    chosen = stats.grouped(series, interval=interval, tz=tz)
    profiles = stats.profiles(series, tz=tz)
    correlation = stats.autocorrelation(series)
    decomposition = stats.decomposition(series)
    profile = profile or unit_profile(series, tz=tz, obis=obis)
    # The one test of a daily cycle: the verdict and every sentence about one (profile, STL)
    # use it.
    cycle = profile.verdict.cycle
    figures, comparison = profile.load, profile.standard
    table = []
    if interval in TABLE_INTERVALS:
        table = [
            {"start": label, **row}
            for label, row in zip(
                chosen.index.tz_convert(tz).to_pydatetime(),
                chosen.to_dict("records"),
                strict=True,
            )
        ]
    marked_text = ", ".join(
        f"lag {lag}: {value:.2f}" for lag, (value, _band) in correlation.marked.items()
    )
    built = [
        Chart(
            name="series",
            title=f"Readings ({per_reading})",
            alt=f"Line chart of the {quality.readings} readings over local time, from "
            f"{quality.minimum:.4f} to {quality.maximum:.4f} {unit}.",
            plot=partial(
                charts.plot_series, series=series, tz=tz, ylabel=f"energy ({per_reading})"
            ),
        ),
        Chart(
            name="grouped",
            title=f"Energy per {interval} (sum) and mean power",
            alt=f"Energy summed per {interval} in {len(chosen)} buckets, with the mean power "
            f"in {power_unit} on a second axis.",
            plot=partial(
                charts.plot_grouped,
                frame=chosen,
                interval=interval,
                tz=tz,
                unit=unit,
                power_unit=power_unit,
            ),
        ),
        Chart(
            name="profile",
            title="Mean by time of day: all days, weekdays, weekends",
            alt="Mean reading by local time of day; peak at "
            f"{profiles.time_of_day.idxmax()} with {profiles.time_of_day.max():.4f} {unit}"
            + ("." if cycle.present else ", within what shuffled readings give (no daily cycle)."),
            plot=partial(charts.plot_profiles, profiles=profiles, tz=tz, unit=unit),
        ),
        Chart(
            name="weekday",
            title="Mean energy per day by weekday (complete days)",
            alt="Bars of mean daily energy by weekday: "
            + ", ".join(f"{day} {value:.2f} {unit}" for day, value in profiles.by_weekday.items())
            + ".",
            plot=partial(charts.plot_weekdays, profiles=profiles, unit=unit),
        ),
        Chart(
            name="heatmap",
            title="Heatmap: local date by time of day",
            alt=f"Heatmap of {len(profiles.heatmap)} days by time of day, colour = {unit} "
            "per reading.",
            plot=partial(charts.plot_heatmap, heatmap=profiles.heatmap, tz=tz, unit=unit),
        ),
        Chart(
            name="acf",
            title="Autocorrelation (ACF) and partial autocorrelation (PACF), 95% bands",
            alt=f"Correlograms over {len(correlation.acf) - 1} lags; {marked_text}.",
            plot=partial(charts.plot_correlograms, correlation=correlation),
        ),
    ]
    built += [
        Chart(
            name="duration",
            title="Load duration curve",
            alt=f"Power sorted from the largest, {figures.peak_power:.2f} {power_unit}, down "
            f"to {figures.duration.iloc[-1]:.3f} {power_unit} over "
            f"{figures.duration.index[-1]:.0f} hours; base load {figures.base_load:.3f} "
            f"{power_unit}, load factor {figures.load_factor:.2f}.",
            plot=partial(
                charts.plot_duration,
                duration=figures.duration,
                base_load=figures.base_load,
                power_unit=power_unit,
            ),
        ),
    ]
    if comparison is not None:  # the standard profiles are of active energy
        built.append(
            Chart(
                name="standard",
                title="Mean by time of day against the BDEW 2025 profiles scaled to its energy",
                alt="This unit's mean by local time of day and the H25, G25 and P25 profiles "
                "scaled to its energy over the same days: "
                + "; ".join(
                    f"{fit.name} r = {fit.correlation:.2f}, error {fit.error:.0%}"
                    for fit in comparison.fits
                )
                + ".",
                plot=partial(
                    charts.plot_standard_profiles,
                    unit=comparison.unit_time_of_day,
                    profiles={fit.name: fit.time_of_day for fit in comparison.fits},
                    tz=tz,
                ),
            )
        )
    if decomposition is not None:
        built.append(
            Chart(
                name="stl",
                title="STL decomposition with a period of one day",
                alt="Observed series split into trend, daily cycle and remainder; strength "
                f"of the daily cycle {decomposition.seasonal_strength:.2f}.",
                plot=partial(
                    charts.plot_decomposition, decomposition=decomposition, tz=tz, unit=unit
                ),
            )
        )
        built.append(
            Chart(
                name="periodogram",
                title="Periodogram: share of the variance by period",
                alt="Periodogram over periods from "
                f"{decomposition.spectrum.index.min():.1f} to "
                f"{decomposition.spectrum.index.max():.0f} hours; strongest: "
                + ", ".join(
                    f"{hours:.1f} h ({share:.0%})" for hours, share in decomposition.periods
                )
                + ".",
                plot=partial(
                    charts.plot_periodogram,
                    spectrum=decomposition.spectrum,
                    periods=decomposition.periods,
                ),
            )
        )
    return replace(
        bare,
        shown_gaps=quality.missing[:SHOWN_GAPS],
        groupings=stats.grouping_summaries(series, tz=tz),
        table=table,
        charts={chart.name: chart for chart in built},
        marked=correlation.marked,
        per_day=correlation.per_day,
        per_week=correlation.per_week,
        acf_reading=correlation.reading,
        seasonal_strength=decomposition.seasonal_strength if decomposition else None,
        seasonal_range=decomposition.seasonal_range if decomposition else None,
        periods=decomposition.periods if decomposition else [],
        daily_cycle=cycle,
        profile=profile,
        daily_peaks=[
            {"date": day.date(), "peak": peak, "at": at}
            for day, peak, at in figures.daily_peaks.iloc[::-1][["peak", "at"]].itertuples()
        ],
    )


def energy_channels(unit: Unit) -> list[Channel]:
    """The unit's channels the analysis reads: those of energy (ObisCode.energy)."""
    return [channel for channel in unit.channels.all() if channel.decoded.energy]


def not_analysed(unit: Unit) -> list[str]:
    """Why each of the unit's other channels is not read (ObisCode.not_energy)."""
    return [c.decoded.not_energy for c in unit.channels.all() if not c.decoded.energy]


def chosen_channel(unit: Unit, obis: str | None) -> Channel | None:
    """The unit's energy channel `obis` names, else its first (None: it has none).

    Raises ValueError, saying which channels the unit has, when `obis` names none of them or
    one that is not energy (a voltage, say: the analysis reads energy).
    """
    channels = energy_channels(unit)
    if obis is None:
        return channels[0] if channels else None
    named = next((channel for channel in unit.channels.all() if channel.obis == obis), None)
    if named is None:
        known = ", ".join(channel.obis for channel in unit.channels.all()) or "none"
        raise ValueError(f"unit {unit.muid} has no channel {obis} (it has: {known}).")
    if not named.decoded.energy:
        raise ValueError(
            f"{named.decoded.not_energy}: the analysis reads energy channels (this unit's: "
            f"{', '.join(channel.obis for channel in channels) or 'none'})."
        )
    return named


@dataclass(frozen=True)
class WindowProfile:
    """A channel's UnitProfile over the window [start, end) that the parameters resolve to."""

    tz: ZoneInfo
    start: datetime | None
    end: datetime | None
    profile: UnitProfile


def _window_key(kind: str, *, channel: Channel, params: ReportParams, **extra) -> tuple:
    first, last = reading_span([channel])
    start, end = resolve_window(params, first=first, last=last, step=STEP)
    state = (channel.pk, channel.data_changed_at, channel.reading_count)
    return _cache_key(kind, *state, start, end, params.tz.key, *extra.values()), start, end


def channel_profile(
    *, channel: Channel, params: ReportParams, series: pd.Series | None = None
) -> WindowProfile:
    """The channel's profile over the parameters' window, from the cache when the data is
    unchanged (`series`: the window's readings, when the caller has read them)."""
    key, start, end = _window_key("profile", channel=channel, params=params)
    cached = cache.get(key)
    if cached is None:
        if series is None:
            series = channel_series(channel=channel, start=start, end=end)
        profile = unit_profile(series, tz=params.tz, obis=channel.decoded)
        cached = WindowProfile(params.tz, start, end, profile)
        cache.set(key, cached, settings.ANALYSIS_CACHE_TIMEOUT)
    return cached


def _unit_source(*, channel: Channel, params: ReportParams) -> tuple[str, Callable[[], UnitReport]]:
    """The cache key of the channel's report for the parameters, and how to build it."""
    key, start, end = _window_key("unit", channel=channel, params=params, interval=params.interval)

    def build() -> UnitReport:
        series = channel_series(channel=channel, start=start, end=end)
        return build_unit_report(
            series,
            obis=channel.decoded,
            tz=params.tz,
            interval=params.interval,
            start=start,
            end=end,
            profile=channel_profile(channel=channel, params=params, series=series).profile,
        )

    return key, build


def unit_report(*, channel: Channel, params: ReportParams) -> UnitReport:
    """The report of one channel for the parameters, from the cache when the data is unchanged."""
    return _cached(*_unit_source(channel=channel, params=params))


def unit_chart_svg(*, channel: Channel, params: ReportParams, name: str) -> str | None:
    """Chart `name` of the channel's report as SVG, cached; None if the report has no such chart."""
    return _cached_chart(*_unit_source(channel=channel, params=params), name=name)


# --- All units -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelRow:
    muid: str
    obis: str
    code: str
    description: str
    direction: str
    first: datetime | None
    last: datetime | None
    readings: int
    total: float | None  # None: not analysed
    completeness: float
    label: str
    passport: Passport | None = None
    unit: str = "kWh"  # of the total and the passport's energy
    power_unit: str = "kW"  # of the passport's peak and base load
    not_analysed: str = ""  # why, for a channel that is not energy


@dataclass(frozen=True, slots=True)
class PairRow:
    first: str
    second: str
    per_reading: float
    daily: float


@dataclass(frozen=True)
class Overview:
    tz: ZoneInfo
    start: datetime | None
    end: datetime | None
    rows: list[ChannelRow]
    charts: dict[str, Chart] = field(default_factory=dict)
    pairs: list[PairRow] = field(default_factory=list)
    netting: list[stats.Netting] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    version: str = ""


def units_of(obis: ObisCode) -> tuple[str, str]:
    """The units of a channel's interval energy and mean power; a code whose unit is not known
    is read as active energy, kWh and kW."""
    return obis.energy_unit or "kWh", obis.power_unit or "kW"


def _labels(channels: Iterable[Channel]) -> dict[Channel, str]:
    """A short name of each channel for tables and legends: the unit and the direction
    ("95ce3367 import", "95ce3367 reactive import"), with the code where two channels of a unit
    would share one (a register beside a load profile)."""
    short = {}
    for channel in channels:
        decoded = channel.decoded
        what = decoded.direction or decoded.code
        if not decoded.active:
            what = f"{decoded.quantity.value.split()[0]} {what}"
        short[channel] = f"{str(channel.unit.muid)[:8]} {what}"
    shared = Counter(short.values())
    return {
        channel: f"{label} ({channel.code})" if shared[label] > 1 else label
        for channel, label in short.items()
    }


def netting_finding(result: stats.Netting) -> str:
    """The import-vs-export argument for one pair, as a sentence with its numbers."""
    numbers = (
        f"while {result.exporter} exports ({result.exporting_intervals} readings), "
        f"{result.importer} draws {result.import_while_exporting:.4f} kWh per reading on "
        f"average, against {result.import_same_hours_otherwise:.4f} kWh in the same hours of "
        f"the day without export (ratio {result.ratio:.2f}); both are non-zero in "
        f"{result.both_nonzero_share:.0%} of the exporting readings; correlation "
        f"r = {result.correlation:.2f}."
    )
    if result.nets:
        return (
            f"Import drops while export rises: {numbers} This suggests one site netting its "
            "own generation behind one meter."
        )
    return (
        f"Import does not drop while export rises: {numbers} This points to separate sites "
        "(or a generator metered apart from this load), not one site netting its generation."
    )


def build_overview(
    series: dict[Channel, pd.Series],
    *,
    totals: dict[int, float],
    tz: ZoneInfo,
    start: datetime | None,
    end: datetime | None,
) -> Overview:
    """Channel table and the side-by-side comparison of all channels (no queries)."""
    analysed = {channel: values for channel, values in series.items() if channel.decoded.energy}
    labels = _labels(analysed)
    labelled = {labels[channel]: s.rename(labels[channel]) for channel, s in analysed.items()}
    rows = []
    for channel, values in series.items():
        decoded = channel.decoded
        if channel not in analysed:
            # Listed with its span and why it is not read: no total, kind or direction.
            rows.append(
                _channel_row(
                    channel,
                    direction="",
                    total=None,
                    label=f"{str(channel.unit.muid)[:8]} {channel.code}",
                    unit=decoded.unit_of_measure or "",
                    not_analysed=decoded.not_energy,
                )
            )
            continue
        unit, power_unit = units_of(decoded)
        passport = None
        if len(values) > 1:
            passport = unit_profile(values, tz=tz, obis=decoded).passport
        rows.append(
            _channel_row(
                channel,
                direction=str(decoded.direction or "unknown"),
                total=totals.get(channel.pk, 0.0),
                label=labels[channel],
                passport=passport,
                unit=unit,
                power_unit=power_unit,
            )
        )
    present = {label: s for label, s in labelled.items() if len(s) > 1}
    overview_charts, pairs, nettings, findings = {}, [], [], []
    units = ", ".join(sorted({units_of(channel.decoded)[0] for channel in analysed}))
    if present:
        days = {label: stats.grouped(s, interval="day", tz=tz) for label, s in present.items()}
        daily = {label: frame["energy"] for label, frame in days.items()}
        time_of_day = {label: stats.profiles(s, tz=tz).time_of_day for label, s in present.items()}
        overview_charts = {
            chart.name: chart
            for chart in (
                Chart(
                    name="daily",
                    title="Energy per local day, side by side",
                    alt="Side-by-side bars of each channel's daily energy: "
                    + "; ".join(f"{k} {v.sum():.2f} in total" for k, v in daily.items())
                    + f" ({units}).",
                    plot=partial(
                        charts.plot_overlay,
                        lines=daily,
                        tz=tz,
                        ylabel=f"energy per day ({units})",
                        bars=True,
                        complete={label: frame["complete"] for label, frame in days.items()},
                    ),
                ),
                Chart(
                    name="series",
                    title="All readings in one chart",
                    alt="Lines of every channel's readings over local time.",
                    plot=partial(
                        charts.plot_overlay,
                        lines=present,
                        tz=tz,
                        ylabel=f"energy per reading ({units})",
                    ),
                ),
                Chart(
                    name="profiles",
                    title="Mean by time of day, all channels",
                    alt="Mean reading by time of day for each channel: "
                    + "; ".join(f"{k} peaks at {v.idxmax()}" for k, v in time_of_day.items()),
                    plot=partial(
                        charts.plot_overlay,
                        lines=time_of_day,
                        tz=tz,
                        ylabel=f"mean energy per reading ({units})",
                    ),
                ),
            )
        }
    if len(present) > 1:
        per_reading, per_day = stats.correlations(pd.DataFrame(present), tz=tz)
        pairs = [
            PairRow(a, b, float(per_reading.loc[a, b]), float(per_day.loc[a, b]))
            for a, b in combinations(present, 2)
        ]
        findings += [
            f"{p.first} and {p.second}: correlation r = {p.per_reading:.2f} per reading and "
            f"r = {p.daily:.2f} between daily totals."
            for p in pairs
        ]
        # Netting is of active energy: a reactive channel's import says nothing of it.
        directions = {
            labels[channel]: channel.decoded.direction
            for channel in series
            if channel.decoded.active
        }
        for importer in present:
            for exporter in present:
                if (directions.get(importer), directions.get(exporter)) != (
                    Direction.IMPORT,
                    Direction.EXPORT,
                ):
                    continue
                result = stats.netting(present[importer], present[exporter], tz=tz)
                if result is not None:
                    nettings.append(result)
                    findings.append(netting_finding(result))
    return Overview(
        tz=tz,
        start=start,
        end=end,
        rows=rows,
        charts=overview_charts,
        pairs=pairs,
        netting=nettings,
        findings=findings,
    )


def _channel_row(channel: Channel, **figures) -> ChannelRow:
    """The overview's row of a channel: what the channel itself stores, and `figures`."""
    return ChannelRow(
        muid=str(channel.unit.muid),
        obis=channel.obis,
        code=channel.code,
        description=channel.decoded.description,
        first=channel.first_reading_at,
        last=channel.last_reading_at,
        readings=channel.reading_count,
        completeness=channel_completeness(channel),
        **figures,
    )


def _overview_source(
    *, units: Iterable[Unit], params: ReportParams
) -> tuple[str, Callable[[], Overview]]:
    """The cache key of the overview of `units` for the parameters, and how to build it.

    The key names every channel the overview is built from, so a report (and each of its
    charts) is shared only by users who see exactly the same channels, and never holds a
    channel its reader may not see.
    """
    channels = [channel for unit in units for channel in unit.channels.all()]
    first, last = reading_span(channels)
    start, end = resolve_window(params, first=first, last=last, step=STEP)
    state = [(c.pk, c.data_changed_at, c.reading_count) for c in channels]
    key = _cache_key("overview", state, start, end, params.tz.key)

    def build() -> Overview:
        analysed = [channel for channel in channels if channel.decoded.energy]
        frames = channels_frame(channels=analysed, start=start, end=end)
        return build_overview(
            # A channel that is not energy is listed, not read: no readings.
            {channel: frames.get(channel.pk, pd.Series(dtype=float)) for channel in channels},
            totals=channel_totals(analysed),
            tz=params.tz,
            start=start,
            end=end,
        )

    return key, build


def overview_report(*, units: Iterable[Unit], params: ReportParams) -> Overview:
    """`units` (with their channels prefetched) and their comparison, cached by data state.

    The caller chooses the units: a page passes those its user may read.
    """
    return _cached(*_overview_source(units=units, params=params))


def overview_chart_svg(*, units: Iterable[Unit], params: ReportParams, name: str) -> str | None:
    """Chart `name` of the overview of `units` as SVG, cached; None if it has no such chart."""
    return _cached_chart(*_overview_source(units=units, params=params), name=name)
