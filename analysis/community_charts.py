"""The charts of a community's page, drawn from its balance buckets (no queries), in the style
and with the helpers of analysis.charts.

Frames here are indexed by each bucket's start (aware) and hold floats of kWh or ratios, and a
`complete` column: an incomplete bucket (a member's reading missing, or cut by the window) is
marked, never read as a low one.
"""

from datetime import tzinfo

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter

from analysis.charts import BAR_DAYS, COLORS, PARTIAL, SIZES, _bars, _margins, _time_axis, _x

COMMUNITY = COLORS[2]
GRID = "#9aa5b1"
SURPLUS = COLORS[1]
# Days a bar of a month spans.
MONTH_BAR_DAYS = 22.0
# An incomplete bucket on a stepped (15-minute, hourly) chart: a shaded span.
INCOMPLETE_SPAN = {"color": COLORS[3], "alpha": 0.15, "lw": 0}


def _incomplete_spans(ax, x: np.ndarray, widths: np.ndarray, complete: np.ndarray) -> None:
    for left, width in zip(x[~complete], widths[~complete], strict=True):
        ax.axvspan(left, left + width, **INCOMPLETE_SPAN)


def _stacked(ax, frame: pd.DataFrame, parts: list[tuple[str, str, str]], *, interval: str, tz):
    """`parts` (column, label, colour) stacked over time: bars for days and longer, steps
    below a day (with the incomplete buckets shaded)."""
    x = _x(frame.index, tz)
    complete = frame["complete"].to_numpy(dtype=bool)
    bottom = np.zeros(len(frame))
    if interval in BAR_DAYS or interval == "month":
        width = BAR_DAYS.get(interval, MONTH_BAR_DAYS)
        ends = _x(pd.DatetimeIndex(frame["end"]), tz)
        middle = x + (ends - x) / 2
        for column, label, color in parts:
            values = frame[column].to_numpy(dtype=float)
            for shown, style in ((complete, {"label": label}), (~complete, PARTIAL)):
                if shown.any():
                    ax.bar(
                        middle[shown],
                        values[shown],
                        width=width,
                        bottom=bottom[shown],
                        color=color,
                        **style,
                    )
            bottom = bottom + values
        return
    widths = _x(pd.DatetimeIndex(frame["end"]), tz) - x
    for column, label, color in parts:
        values = frame[column].to_numpy(dtype=float)
        top = bottom + values
        ax.fill_between(x, bottom, top, step="post", color=color, lw=0, label=label)
        bottom = top
    _incomplete_spans(ax, x, widths, complete)


def plot_flows(*, fig: Figure, frame: pd.DataFrame, interval: str, tz: tzinfo) -> None:
    """Consumption split into from the community and from the grid (top), production into to
    the community and to the grid (bottom), per bucket."""
    _margins(fig, hspace=0.2)
    top, bottom = fig.subplots(2, 1, sharex=True)
    _stacked(
        top,
        frame,
        [("shared", "from the community", COMMUNITY), ("grid_import", "from the grid", GRID)],
        interval=interval,
        tz=tz,
    )
    top.set_ylabel(f"consumption\n(kWh per {interval})")
    top.legend(loc="upper left", frameon=False, fontsize=8)
    _stacked(
        bottom,
        frame,
        [("shared", "to the community", COMMUNITY), ("surplus", "to the grid", SURPLUS)],
        interval=interval,
        tz=tz,
    )
    bottom.set_ylabel(f"production\n(kWh per {interval})")
    bottom.legend(loc="upper left", frameon=False, fontsize=8)
    for ax in (top, bottom):
        ax.set_ylim(bottom=0)
    _time_axis(bottom)
    marked = "hatched bars" if interval in BAR_DAYS or interval == "month" else "shaded spans"
    bottom.set_xlabel(f"local time ({tz}); {marked}: incomplete buckets")


RATES = (
    ("self_sufficiency", "self-sufficiency (shared / consumption)", COMMUNITY),
    ("self_consumption", "self-consumption (shared / production)", SURPLUS),
)


def plot_rates(*, fig: Figure, frame: pd.DataFrame, interval: str, tz: tzinfo) -> None:
    """Self-sufficiency and self-consumption per bucket, side by side; incomplete buckets
    hatched. Days on a time axis, months as labelled categories (a month's bar on a time
    axis would hide its neighbours')."""
    _margins(fig)
    ax = fig.add_subplot()
    complete = frame["complete"].to_numpy(dtype=bool)
    if interval == "month":
        x = np.arange(len(frame), dtype=float)
        span = 0.8
        local = frame.index.tz_convert(tz)
        ax.set_xticks(x, [f"{start:%Y-%m}" for start in local])
        ax.set_xlabel(f"local month ({tz}); hatched bars: incomplete months")
    else:
        start = _x(frame.index, tz)
        x = start + (_x(pd.DatetimeIndex(frame["end"]), tz) - start) / 2
        span = BAR_DAYS.get(interval, 0.8)
        _time_axis(ax)
        ax.set_xlabel(f"local time ({tz}); hatched bars: incomplete {interval}s")
    width = span / len(RATES)
    for i, (column, _label, color) in enumerate(RATES):
        middle = x - span / 2 + (i + 0.5) * width
        values = np.nan_to_num(frame[column].to_numpy(dtype=float))
        _bars(ax, middle, values, complete, width=width, color=color)
    # Room above 100% for the legend.
    ax.set_ylim(0, 1.3)
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel(f"share per {interval}")
    handles = [Patch(color=color, label=label) for _column, label, color in RATES]
    ax.legend(handles=handles, loc="upper left", frameon=False, fontsize=8, ncols=2)


# Two panels: taller than a chart of one.
SIZES[plot_flows] = (9.0, 5.0)
