"""Charts as SVG documents, drawn with matplotlib's object API (no pyplot, no global state).

Each function takes computed statistics, never queries, and returns a Chart: the SVG text
with a title and an alternative text for the page. Times on the axes are local wall time.
"""

import base64
import io
from dataclasses import dataclass
from datetime import tzinfo

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure

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


@dataclass(frozen=True, slots=True)
class Chart:
    """One figure: `name` is its file name stem in an exported report."""

    name: str
    title: str
    alt: str
    svg: str
    href: str = ""

    @property
    def url(self) -> str:
        """Where an <img> finds it: the exported file, or the SVG inline as a data URI."""
        if self.href:
            return self.href
        return "data:image/svg+xml;base64," + base64.b64encode(self.svg.encode()).decode()


def _render(fig: Figure, *, name: str, title: str, alt: str) -> Chart:
    fig.suptitle(title, fontsize=10, x=0.01, ha="left")
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Title": title, "Date": None})
    return Chart(name=name, title=title, alt=alt, svg=buffer.getvalue())


def _figure(size: tuple[float, float] = WIDE, *, right: float = 0.98, **margins) -> Figure:
    # Fixed margins in inches: matplotlib's layout engines double the time of a chart.
    width, height = size
    fig = Figure(figsize=size)
    fig.subplots_adjust(
        left=margins.get("left", 0.75) / width,
        right=right - margins.get("right_in", 0.0) / width,
        bottom=margins.get("bottom", 0.55) / height,
        top=1 - margins.get("top", 0.35) / height,
        hspace=margins.get("hspace", 0.25),
    )
    return fig


def _x(index: pd.DatetimeIndex, tz: tzinfo) -> np.ndarray:
    """Local wall times as matplotlib date numbers, converted once, in one vectorised step.

    Handing matplotlib aware timestamps makes it convert them point by point on every draw.
    """
    return date2num(index.tz_convert(tz).tz_localize(None).to_numpy())


def _time_axis(ax) -> None:
    # The numbers are local wall times already (see _x), so the axis needs no zone.
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def series_chart(
    series: pd.Series, *, tz: tzinfo, name: str, title: str, ylabel: str, alt: str
) -> Chart:
    """A line of the readings over local time."""
    with mpl.rc_context(RC):
        fig = _figure()
        ax = fig.add_subplot()
        ax.plot(_x(series.index, tz), series.to_numpy(), lw=0.7, color=COLORS[0])
        ax.set_ylabel(ylabel)
        ax.set_xlabel(f"local time ({tz})")
        _time_axis(ax)
        return _render(fig, name=name, title=title, alt=alt)


def grouped_chart(
    frame: pd.DataFrame, *, interval: str, tz: tzinfo, name: str, title: str, alt: str
) -> Chart:
    """Energy summed per bucket (bars or steps), with the mean power on a second axis."""
    with mpl.rc_context(RC):
        fig = _figure(right_in=0.7)
        ax = fig.add_subplot()
        index = _x(frame.index, tz)
        energy = frame["energy"].to_numpy()
        if interval in ("day", "week"):
            width = 0.8 if interval == "day" else 5.6
            colors = [COLORS[0] if ok else "#9db8d3" for ok in frame["complete"]]
            ax.bar(index, energy, width=width, align="edge", color=colors)
        else:
            ax.step(index, energy, where="post", lw=0.7, color=COLORS[0])
        ax.set_ylabel(f"energy per {interval} (kWh, sum)")
        ax.set_xlabel(f"local time ({tz}); pale bars: incomplete buckets")
        power = ax.twinx()
        power.plot(index, frame["power"].to_numpy(), color=COLORS[1], lw=0.8)
        power.set_ylabel("mean power (kW)", color=COLORS[1])
        power.grid(visible=False)
        _time_axis(ax)
        return _render(fig, name=name, title=title, alt=alt)


def profile_chart(profiles: Profiles, *, tz: tzinfo, name: str, title: str, alt: str) -> Chart:
    """Mean reading by local time of day: all days, weekdays and weekends."""
    with mpl.rc_context(RC):
        fig = _figure()
        ax = fig.add_subplot()
        for label, line, color in (
            ("all days", profiles.time_of_day, COLORS[0]),
            ("Mon-Fri", profiles.weekday, COLORS[2]),
            ("Sat-Sun", profiles.weekend, COLORS[1]),
        ):
            if len(line):
                ax.plot(range(len(line)), line.to_numpy(), label=label, color=color, lw=1)
        labels = list(profiles.time_of_day.index)
        ticks = range(0, len(labels), max(1, len(labels) // 12))
        ax.set_xticks(list(ticks), [labels[i] for i in ticks])
        ax.set_xlabel(f"time of day ({tz})")
        ax.set_ylabel("mean energy per reading (kWh)")
        ax.legend(loc="upper left", frameon=False)
        return _render(fig, name=name, title=title, alt=alt)


def weekday_chart(profiles: Profiles, *, name: str, title: str, alt: str) -> Chart:
    """Mean energy per complete local day, by weekday."""
    with mpl.rc_context(RC):
        fig = _figure((6.0, 2.6))
        ax = fig.add_subplot()
        values = profiles.by_weekday
        ax.bar(range(len(values)), values.to_numpy(), color=COLORS[0])
        ax.set_xticks(range(len(values)), list(values.index))
        for i, (day, value) in enumerate(values.items()):
            count = int(profiles.days_by_weekday.get(day, 0))
            ax.annotate(f"n={count}", (i, value), ha="center", va="bottom", fontsize=7)
        ax.set_ylabel("mean energy per day (kWh)")
        return _render(fig, name=name, title=title, alt=alt)


def heatmap_chart(heatmap: pd.DataFrame, *, tz: tzinfo, name: str, title: str, alt: str) -> Chart:
    """Day (rows) by local time of day (columns), coloured by the reading."""
    with mpl.rc_context(RC):
        fig = _figure((9.0, 4.2), left=1.15, right_in=0.2)
        ax = fig.add_subplot()
        ax.grid(visible=False)
        image = ax.imshow(
            heatmap.to_numpy(dtype=float), aspect="auto", interpolation="nearest", cmap="viridis"
        )
        columns = list(heatmap.columns)
        xticks = range(0, len(columns), max(1, len(columns) // 12))
        ax.set_xticks(list(xticks), [columns[i] for i in xticks])
        rows = [str(day) for day in heatmap.index]
        yticks = range(0, len(rows), max(1, len(rows) // 10))
        ax.set_yticks(list(yticks), [rows[i] for i in yticks])
        ax.set_xlabel(f"time of day ({tz})")
        ax.set_ylabel("local date")
        fig.colorbar(image, ax=ax, label="energy per reading (kWh)", fraction=0.04, pad=0.02)
        return _render(fig, name=name, title=title, alt=alt)


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


def acf_chart(result: Autocorrelation, *, name: str, title: str, alt: str) -> Chart:
    """The ACF and PACF, one above the other, with one day and one week marked."""
    marks = {result.per_day: "1 day", result.per_week: "1 week"}
    with mpl.rc_context(RC):
        fig = _figure((9.0, 5.0), hspace=0.15)
        top, bottom = fig.subplots(2, 1, sharex=True)
        _correlogram(top, result.acf, result.acf_band, marks)
        top.set_ylabel("ACF")
        top.legend(loc="upper right", frameon=False)
        _correlogram(bottom, result.pacf, result.pacf_band, marks)
        bottom.set_ylabel("PACF")
        return _render(fig, name=name, title=title, alt=alt)


def decomposition_chart(
    result: Decomposition, *, tz: tzinfo, name: str, title: str, alt: str
) -> Chart:
    """Observed, trend, daily seasonal component and remainder, on one time axis."""
    with mpl.rc_context(RC):
        fig = _figure((9.0, 6.0), left=0.85, hspace=0.12)
        axes = fig.subplots(4, 1, sharex=True)
        for ax, (label, part) in zip(
            axes,
            (
                ("observed", result.observed),
                ("trend", result.trend),
                ("daily cycle", result.seasonal),
                ("remainder", result.resid),
            ),
            strict=True,
        ):
            ax.plot(_x(part.index, tz), part.to_numpy(), lw=0.6, color=COLORS[0])
            ax.set_ylabel(f"{label}\n(kWh)")
        _time_axis(axes[-1])
        axes[-1].set_xlabel(f"local time ({tz})")
        return _render(fig, name=name, title=title, alt=alt)


def overlay_chart(
    lines: dict[str, pd.Series],
    *,
    tz: tzinfo,
    name: str,
    title: str,
    ylabel: str,
    alt: str,
    bars: bool = False,
) -> Chart:
    """Several series on one axis: lines over time, or side-by-side bars (daily totals)."""
    with mpl.rc_context(RC):
        fig = _figure()
        ax = fig.add_subplot()
        width = 0.8 / max(1, len(lines))
        for i, (label, series) in enumerate(lines.items()):
            color = COLORS[i % len(COLORS)]
            if bars:
                ax.bar(
                    _x(series.index, tz) + i * width,
                    series.to_numpy(),
                    width=width,
                    align="edge",
                    color=color,
                    label=label,
                )
            elif isinstance(series.index, pd.DatetimeIndex):
                ax.plot(_x(series.index, tz), series.to_numpy(), lw=0.7, color=color, label=label)
            else:
                ax.plot(range(len(series)), series.to_numpy(), lw=1, color=color, label=label)
                labels = list(series.index)
                ticks = range(0, len(labels), max(1, len(labels) // 12))
                ax.set_xticks(list(ticks), [labels[j] for j in ticks])
        if bars or any(isinstance(s.index, pd.DatetimeIndex) for s in lines.values()):
            _time_axis(ax)
            ax.set_xlabel(f"local time ({tz})")
        else:
            ax.set_xlabel(f"time of day ({tz})")
        ax.set_ylabel(ylabel)
        ax.legend(loc="upper left", frameon=False, fontsize=8)
        return _render(fig, name=name, title=title, alt=alt)
