"""Charts as SVG documents, drawn with matplotlib's object API (no pyplot, no global state).

A report describes each of its charts as a Chart: a name, a title and an alternative text for
the page, and a plotting function of this module with the chart's data bound to it. Nothing
is drawn when a report is built; a chart is drawn when its image is asked for (Chart.svg).
Plotting functions take computed statistics, never queries. Times on the axes are local wall
time.
"""

import io
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import tzinfo

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from analysis.stats import Autocorrelation, Decomposition, Profiles

# Text stays text (small files, searchable, readable by assistive tools); ids are stable, so
# the same data draws the same bytes.
RC = {
    "svg.fonttype": "none",
    "svg.hashsalt": "exnaton-analysis",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
}
WIDE = (9.0, 3.0)
COLORS = ("#1f6fb2", "#e07b00", "#2a9d5c", "#b23a48", "#6b4fa0")
# rc_context sets matplotlib's global rcParams and restores them on exit: two charts drawn at
# once in one process (a threaded worker serving a page's images) would undo each other's.
DRAWING = threading.Lock()
# CSS pixels per inch: the <img> reserves the figure's box before the image arrives.
CSS_DPI = 96


@dataclass(frozen=True, slots=True)
class Chart:
    """One figure of a report, described but not drawn.

    `name` is its URL and file stem. `plot` is a plotting function of this module with the data
    bound as keywords (a functools.partial): it pickles with the cached report, so the chart
    can be drawn later, from the cache, in a request of its own. `href` is where a page's
    <img> finds the image, set by whoever renders the page (the chart view, an exported file).
    """

    name: str
    title: str
    alt: str
    plot: Callable[..., None] = field(repr=False)
    href: str = ""

    @property
    def size(self) -> tuple[float, float]:
        """Width and height in inches."""
        return SIZES.get(getattr(self.plot, "func", self.plot), WIDE)

    @property
    def width(self) -> int:
        return round(self.size[0] * CSS_DPI)

    @property
    def height(self) -> int:
        return round(self.size[1] * CSS_DPI)

    def figure(self) -> Figure:
        """The drawn figure (the caller holds DRAWING and the rc context)."""
        fig = Figure(figsize=self.size)
        self.plot(fig=fig)
        fig.suptitle(self.title, fontsize=10, x=0.01, ha="left")
        return fig

    def svg(self) -> str:
        """Draw the figure: the SVG document, titled for assistive tools too."""
        with DRAWING, mpl.rc_context(RC):
            fig = self.figure()
            buffer = io.StringIO()
            fig.savefig(buffer, format="svg", metadata={"Title": self.title, "Date": None})
        return buffer.getvalue()


def _margins(
    fig: Figure,
    *,
    left: float = 0.75,
    right: float = 0.0,
    bottom: float = 0.55,
    top: float = 0.35,
    hspace: float = 0.25,
) -> None:
    # Fixed margins in inches: matplotlib's layout engines double the time of a chart.
    width, height = fig.get_size_inches()
    fig.subplots_adjust(
        left=left / width,
        right=0.98 - right / width,
        bottom=bottom / height,
        top=1 - top / height,
        hspace=hspace,
    )


def _x(index: pd.DatetimeIndex, tz: tzinfo) -> np.ndarray:
    """Local wall times as matplotlib date numbers, converted once, in one vectorised step.

    Handing matplotlib aware timestamps makes it convert them point by point on every draw.
    """
    return date2num(index.tz_convert(tz).tz_localize(None).to_numpy())


# ConciseDateFormatter's offset text (at the axis' right end) for ticks of years, months, days,
# hours, minutes, seconds. Its default names the month of the last tick: a February of data
# whose last tick is 1 March was labelled "2023-Mar". The year alone, for day ticks.
OFFSET_FORMATS = ["", "%Y", "%Y", "%Y", "%Y-%b-%d", "%Y-%b-%d %H:%M"]


def _time_axis(ax) -> None:
    # The numbers are local wall times already (see _x), so the axis needs no zone.
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator, offset_formats=OFFSET_FORMATS))


def plot_series(*, fig: Figure, series: pd.Series, tz: tzinfo, ylabel: str) -> None:
    """A line of the readings over local time."""
    _margins(fig)
    ax = fig.add_subplot()
    ax.plot(_x(series.index, tz), series.to_numpy(), lw=0.7, color=COLORS[0])
    ax.set_ylabel(ylabel)
    ax.set_xlabel(f"local time ({tz})")
    _time_axis(ax)


# Hours in a bucket, for the power scale beside an energy axis (a DST day is 23 or 25).
BUCKET_HOURS = {"15min": 0.25, "hour": 1.0, "day": 24.0, "week": 168.0}
# Days a bar spans, centred in its bucket.
BAR_DAYS = {"day": 0.8, "week": 5.6}
PARTIAL = {"alpha": 0.35, "hatch": "///", "label": "_nolegend_"}


def _power_scale(ax, *, hours: float, label: str) -> None:
    """A right-hand axis reading the energy axis as mean power (kW = kWh / hours).

    A scale of the same bars, not a second series: a line of mean power would repeat the
    bars' shape (hours) or need an axis of its own that does not start at zero (days).
    """
    power = ax.secondary_yaxis("right", functions=(lambda e: e / hours, lambda p: p * hours))
    power.set_ylabel(label)


def _bars(ax, x: np.ndarray, heights: np.ndarray, complete, *, width: float, **style) -> None:
    """Bars centred on `x`; an incomplete bucket hatched and pale, never read as a low one."""
    complete = np.asarray(complete, dtype=bool)
    ax.bar(x[complete], heights[complete], width=width, **style)
    if (~complete).any():
        ax.bar(x[~complete], heights[~complete], width=width, **{**style, **PARTIAL})


def plot_grouped(
    *, fig: Figure, frame: pd.DataFrame, interval: str, tz: tzinfo, unit: str, power_unit: str
) -> None:
    """Energy summed per bucket (bars or steps), with mean power as a scale of the same axis."""
    _margins(fig, right=0.7)
    ax = fig.add_subplot()
    index = _x(frame.index, tz)
    energy = frame["energy"].to_numpy()
    if interval in BAR_DAYS:
        # Each bar centred in its bucket (the bucket starts at `index`).
        middle = index + (BUCKET_HOURS[interval] / 24) / 2
        _bars(ax, middle, energy, frame["complete"], width=BAR_DAYS[interval], color=COLORS[0])
        ax.set_xlabel(f"local time ({tz}); hatched bars: incomplete buckets")
    else:
        ax.step(index, energy, where="post", lw=0.7, color=COLORS[0])
        ax.set_xlabel(f"local time ({tz})")
    ax.set_ylabel(f"energy per {interval} ({unit}, sum)")
    ax.set_ylim(bottom=0)
    full = "" if interval in ("15min", "hour") else f", over a full {interval}"
    _power_scale(ax, hours=BUCKET_HOURS[interval], label=f"mean power ({power_unit}{full})")
    _time_axis(ax)


def _time_of_day_ticks(ax, labels: list[str]) -> None:
    ticks = range(0, len(labels), max(1, len(labels) // 12))
    ax.set_xticks(list(ticks), [labels[i] for i in ticks])


def plot_profiles(*, fig: Figure, profiles: Profiles, tz: tzinfo, unit: str) -> None:
    """Mean reading by local time of day: all days, weekdays and weekends."""
    _margins(fig)
    ax = fig.add_subplot()
    for label, line, color in (
        ("all days", profiles.time_of_day, COLORS[0]),
        ("Mon-Fri", profiles.weekday, COLORS[2]),
        ("Sat-Sun", profiles.weekend, COLORS[1]),
    ):
        if len(line):
            ax.plot(range(len(line)), line.to_numpy(), label=label, color=color, lw=1)
    _time_of_day_ticks(ax, list(profiles.time_of_day.index))
    ax.set_xlabel(f"time of day ({tz})")
    ax.set_ylabel(f"mean energy per reading ({unit})")
    ax.legend(loc="upper left", frameon=False)


def plot_weekdays(*, fig: Figure, profiles: Profiles, unit: str) -> None:
    """Mean energy per complete local day, by weekday."""
    _margins(fig)
    ax = fig.add_subplot()
    values = profiles.by_weekday
    ax.bar(range(len(values)), values.to_numpy(), color=COLORS[0])
    ax.set_xticks(range(len(values)), list(values.index))
    for i, (day, value) in enumerate(values.items()):
        count = int(profiles.days_by_weekday.get(day, 0))
        ax.annotate(f"n={count}", (i, value), ha="center", va="bottom", fontsize=7)
    ax.set_ylabel(f"mean energy per day ({unit})")


def plot_heatmap(*, fig: Figure, heatmap: pd.DataFrame, tz: tzinfo, unit: str) -> None:
    """Day (rows) by local time of day (columns), coloured by the reading."""
    # The colour bar and its label sit in the right margin: wide enough for both.
    _margins(fig, left=1.15, right=0.95)
    ax = fig.add_subplot()
    ax.grid(visible=False)
    image = ax.imshow(
        heatmap.to_numpy(dtype=float), aspect="auto", interpolation="nearest", cmap="viridis"
    )
    _time_of_day_ticks(ax, list(heatmap.columns))
    rows = [str(day) for day in heatmap.index]
    yticks = range(0, len(rows), max(1, len(rows) // 10))
    ax.set_yticks(list(yticks), [rows[i] for i in yticks])
    ax.set_xlabel(f"time of day ({tz})")
    ax.set_ylabel("local date")
    width, _height = fig.get_size_inches()
    right = ax.get_position().x1
    cax = fig.add_axes(
        (right + 0.15 / width, ax.get_position().y0, 0.15 / width, ax.get_position().height)
    )
    fig.colorbar(image, cax=cax, label=f"energy per reading ({unit})")


def _correlogram(ax, values: np.ndarray, band: np.ndarray, marks: dict[int, str]) -> None:
    lags = np.arange(len(values))
    # The band is smooth: a hundred points draw it. The coefficients are one line rather than
    # a stem per lag, which keeps a thousand lags a small SVG.
    every = max(1, len(lags) // 100)
    ax.fill_between(
        lags[::every],
        -band[::every],
        band[::every],
        color=COLORS[0],
        alpha=0.2,
        lw=0,
        label="95% band",
    )
    ax.plot(lags, values, color=COLORS[0], lw=0.6)
    ax.axhline(0, color="black", lw=0.5)
    for lag, label in marks.items():
        if lag < len(values):
            ax.axvline(lag, color=COLORS[3], lw=0.8, ls="--")
            ax.annotate(
                f"{label}\nlag {lag}: {values[lag]:.2f}",
                (lag, values[lag]),
                xytext=(4, 6),
                textcoords="offset points",
                fontsize=8,
                color=COLORS[3],
            )
    ax.set_xlabel("lag (readings)")


def plot_correlograms(*, fig: Figure, correlation: Autocorrelation) -> None:
    """The ACF and PACF, one above the other, with one day and one week marked."""
    _margins(fig, hspace=0.15)
    marks = {correlation.per_day: "1 day", correlation.per_week: "1 week"}
    top, bottom = fig.subplots(2, 1, sharex=True)
    _correlogram(top, correlation.acf, correlation.acf_band, marks)
    top.set_ylabel("ACF")
    top.legend(loc="upper right", frameon=False)
    _correlogram(bottom, correlation.pacf, correlation.pacf_band, marks)
    bottom.set_ylabel("PACF")


def plot_decomposition(*, fig: Figure, decomposition: Decomposition, tz: tzinfo, unit: str) -> None:
    """Observed, trend, daily seasonal component and remainder, on one time axis."""
    _margins(fig, left=1.0, hspace=0.12)
    axes = fig.subplots(4, 1, sharex=True)
    for ax, (label, part) in zip(
        axes,
        (
            ("observed", decomposition.observed),
            ("trend", decomposition.trend),
            ("daily cycle", decomposition.seasonal),
            ("remainder", decomposition.resid),
        ),
        strict=True,
    ):
        ax.plot(_x(part.index, tz), part.to_numpy(), lw=0.6, color=COLORS[0])
        ax.set_ylabel(f"{label}\n({unit})")
    _time_axis(axes[-1])
    axes[-1].set_xlabel(
        f"local time ({tz}); the trend leaves out half its window at each end (STL's edge effect)"
    )


def plot_periodogram(*, fig: Figure, spectrum: pd.Series, periods: list[tuple[float, float]]):
    """Share of the variance by period (hours, log scale), one day and one week marked, and
    the strongest periods named."""
    _margins(fig)
    ax = fig.add_subplot()
    ax.plot(spectrum.index.to_numpy(), spectrum.to_numpy(), lw=0.7, color=COLORS[0])
    ax.set_xscale("log")
    ax.set_xlabel("period (hours, log scale)")
    ax.set_ylabel("share of the variance")
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    for hours, label in ((24, "1 day"), (168, "1 week")):
        if spectrum.index.min() <= hours <= spectrum.index.max():
            ax.axvline(hours, color=COLORS[3], lw=0.8, ls="--")
            ax.annotate(
                label,
                (hours, 1),
                xycoords=("data", "axes fraction"),
                xytext=(3, -10),
                textcoords="offset points",
                fontsize=8,
                color=COLORS[3],
            )
    for hours, share in periods:
        ax.annotate(
            f"{hours:.1f} h: {share:.0%}",
            (hours, share),
            xytext=(4, 2),
            textcoords="offset points",
            fontsize=8,
        )


def plot_overlay(
    *,
    fig: Figure,
    lines: dict[str, pd.Series],
    tz: tzinfo,
    ylabel: str,
    bars: bool = False,
    complete: dict[str, pd.Series] | None = None,
) -> None:
    """Several series on one axis: lines over time, or side-by-side bars of daily totals,
    hatched where `complete` marks a partial day."""
    _margins(fig)
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(lines))
    partial = False
    for i, (label, series) in enumerate(lines.items()):
        color = COLORS[i % len(COLORS)]
        if bars:
            full = complete[label] if complete else pd.Series(True, index=series.index)
            partial = partial or not full.all()
            # The group of bars centred in its day.
            x = _x(series.index, tz) + 0.1 + (i + 0.5) * width
            _bars(ax, x, series.to_numpy(), full.to_numpy(), width=width, color=color, label=label)
        elif isinstance(series.index, pd.DatetimeIndex):
            ax.plot(_x(series.index, tz), series.to_numpy(), lw=0.7, color=color, label=label)
        else:
            ax.plot(range(len(series)), series.to_numpy(), lw=1, color=color, label=label)
            _time_of_day_ticks(ax, list(series.index))
    if bars or any(isinstance(s.index, pd.DatetimeIndex) for s in lines.values()):
        _time_axis(ax)
        note = "; hatched bars: partial days" if partial else ""
        ax.set_xlabel(f"local time ({tz}){note}")
    else:
        ax.set_xlabel(f"time of day ({tz})")
    ax.set_ylabel(ylabel)
    ax.legend(loc="upper left", frameon=False, fontsize=8)


def plot_duration(*, fig: Figure, duration: pd.Series, base_load: float, power_unit: str) -> None:
    """The load duration curve: power sorted from the largest, against the hours at or above it."""
    _margins(fig)
    ax = fig.add_subplot()
    ax.plot(duration.index.to_numpy(), duration.to_numpy(), lw=1, color=COLORS[0])
    label = f"base load {base_load:.3f} {power_unit}"
    ax.axhline(base_load, color=COLORS[1], lw=0.8, ls="--", label=label)
    ax.set_xlabel("hours at or above the power")
    ax.set_ylabel(f"power ({power_unit})")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper right", frameon=False, fontsize=8)


def plot_standard_profiles(
    *, fig: Figure, unit: pd.Series, profiles: dict[str, pd.Series], tz: tzinfo
) -> None:
    """The unit's mean by time of day against each standard profile scaled to its energy."""
    _margins(fig)
    ax = fig.add_subplot()
    ax.plot(range(len(unit)), unit.to_numpy(), color="#222222", lw=1.4, label="this unit")
    for i, (name, line) in enumerate(profiles.items()):
        line = line.reindex(unit.index)
        ax.plot(range(len(line)), line.to_numpy(), color=COLORS[i % len(COLORS)], lw=1, label=name)
    _time_of_day_ticks(ax, list(unit.index))
    ax.set_xlabel(f"time of day ({tz})")
    ax.set_ylabel("mean energy per reading (kWh)")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", frameon=False, fontsize=8)


# Width and height in inches of the figures that are not WIDE.
SIZES: dict[Callable[..., None], tuple[float, float]] = {
    plot_weekdays: (6.0, 2.6),
    plot_heatmap: (9.0, 4.2),
    plot_correlograms: (9.0, 5.0),
    plot_decomposition: (9.0, 6.0),
}
