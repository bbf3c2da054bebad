"""A community's report: its balance read through meters.communities (the database computes
every figure), the answer in sentences, and its charts described; cached as the unit reports
are (analysis.reports), by the community's and its channels' state and the parameters.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from zoneinfo import ZoneInfo

import pandas as pd

from analysis import community_charts
from analysis.charts import Chart
from analysis.params import ReportParams, resolve_window
from analysis.reports import _cache_key, _cached, _cached_chart
from meters.communities import (
    ENERGY_CODES,
    CommunityBucket,
    MemberBucket,
    balance_window,
    community_balance,
    member_totals,
    members_balance,
)
from meters.models import Channel, Community
from meters.selectors import Interval

STEP = timedelta(minutes=15)
# Incomplete 15-minute intervals listed one by one; the rest are counted.
SHOWN_INCOMPLETE = 20


@dataclass(frozen=True, slots=True)
class Coverage:
    """How the consumption of the counted 15-minute intervals was covered by the community."""

    counted: int
    expected: int
    incomplete: int
    consuming: int  # counted intervals with consumption
    full: int  # ... all of it from the community
    partly: int  # ... some of it
    none: int  # ... none of it
    incomplete_starts: list[datetime] = field(default_factory=list)


@dataclass(frozen=True)
class CommunityReport:
    community_id: int
    allocation: str
    tz: ZoneInfo
    interval: str
    start: datetime | None
    end: datetime | None
    total: CommunityBucket | None
    coverage: Coverage
    days: list[CommunityBucket]
    months: list[CommunityBucket]
    member_months: list[MemberBucket]
    member_totals: list[MemberBucket]
    answers: list[str]
    charts: dict[str, Chart] = field(default_factory=dict)
    version: str = ""

    @property
    def empty(self) -> bool:
        return self.total is None


def _frame(buckets: list[CommunityBucket]) -> pd.DataFrame:
    """Buckets as floats for drawing, indexed by start (UTC)."""
    index = pd.DatetimeIndex([b.start for b in buckets]).tz_convert("UTC")
    columns = ["shared", "grid_import", "surplus", "self_sufficiency", "self_consumption"]
    frame = pd.DataFrame(
        {name: [float(getattr(b, name) or 0) for b in buckets] for name in columns}, index=index
    )
    frame["end"] = pd.DatetimeIndex([b.end for b in buckets]).tz_convert("UTC")
    frame["complete"] = [b.complete for b in buckets]
    for name in ("self_sufficiency", "self_consumption"):
        frame.loc[[getattr(b, name) is None for b in buckets], name] = float("nan")
    return frame


def _total(buckets: list[CommunityBucket]) -> CommunityBucket | None:
    """The buckets added up (their ratios recomputed from the sums)."""
    if not buckets:
        return None

    def added(name: str) -> Decimal:
        return sum((getattr(b, name) for b in buckets), Decimal(0))

    production, consumption, shared = added("production"), added("consumption"), added("shared")
    return CommunityBucket(
        start=buckets[0].start,
        end=buckets[-1].end,
        production=production,
        consumption=consumption,
        shared=shared,
        grid_import=added("grid_import"),
        surplus=added("surplus"),
        unallocated=added("unallocated"),
        self_consumption=shared / production if production else None,
        self_sufficiency=shared / consumption if consumption else None,
        count=sum(b.count for b in buckets),
        incomplete=sum(b.incomplete for b in buckets),
        expected=sum(b.expected for b in buckets),
    )


def _coverage(quarters: list[CommunityBucket], *, start, end) -> Coverage:
    consuming = [q for q in quarters if q.count and q.consumption > 0]
    intervals = int((end - start) / STEP) if start and end else 0
    return Coverage(
        counted=sum(q.count for q in quarters),
        expected=intervals,
        incomplete=sum(q.incomplete for q in quarters),
        consuming=len(consuming),
        full=sum(1 for q in consuming if q.grid_import == 0),
        partly=sum(1 for q in consuming if 0 < q.shared < q.consumption),
        none=sum(1 for q in consuming if q.shared == 0),
        incomplete_starts=[q.start for q in quarters if q.incomplete][:SHOWN_INCOMPLETE],
    )


def _percent(part: Decimal, whole: Decimal) -> str:
    return f"{part / whole:.1%}" if whole else "n/a"


def answers(totals: list[MemberBucket], coverage: Coverage) -> list[str]:
    """What the window says about each member, in sentences with their numbers."""
    sentences = []
    for member in totals:
        short = member.muid[:8]
        if member.consumption:
            sentences.append(
                f"{short} ({member.role}) consumed {member.consumption:.3f} kWh in the counted "
                f"intervals: {member.from_community:.3f} kWh "
                f"({_percent(member.from_community, member.consumption)}) from the community, "
                f"{member.from_grid:.3f} kWh from the grid."
            )
        if member.production:
            sentences.append(
                f"{short} ({member.role}) produced {member.production:.3f} kWh: "
                f"{member.to_community:.3f} kWh "
                f"({_percent(member.to_community, member.production)}) to the community's "
                f"consumers, {member.to_grid:.3f} kWh to the grid."
            )
    if coverage.consuming:
        sentences.append(
            f"Interval by interval: of the {coverage.consuming} counted quarter hours with "
            f"consumption, the community covered {coverage.full} fully, {coverage.partly} "
            f"partly and {coverage.none} not at all."
        )
    return sentences


def build_community_report(
    community: Community, *, params: ReportParams, start: datetime | None, end: datetime | None
) -> CommunityReport:
    """Every figure of the page, four balance queries; the charts described, not drawn."""
    tz, interval = params.tz, Interval(params.interval)
    window = {"community": community, "tz": tz, "start": start, "end": end}
    quarters = list(community_balance(interval=Interval.MINUTES_15, **window))
    buckets = (
        quarters
        if interval is Interval.MINUTES_15
        else list(community_balance(interval=interval, **window))
    )
    days = list(community_balance(interval=Interval.DAY, **window))
    months = list(community_balance(interval=Interval.MONTH, **window))
    member_months = list(members_balance(interval=Interval.MONTH, **window))
    totals = member_totals(member_months)
    coverage = _coverage(quarters, start=start, end=end)
    charts = {}
    if buckets:
        allocation = community.get_allocation_display()
        charts = {
            chart.name: chart
            for chart in (
                Chart(
                    name="flows",
                    title=f"Energy per {interval}: consumption and production by where it went",
                    alt=f"Stacked {interval} by {interval}: consumption from the community and "
                    "from the grid (top), production to the community and to the grid (bottom); "
                    f"allocation {allocation}.",
                    plot=partial(
                        community_charts.plot_flows,
                        frame=_frame(buckets),
                        interval=str(interval),
                        tz=tz,
                    ),
                ),
                Chart(
                    name="daily",
                    title="Self-sufficiency and self-consumption per local day",
                    alt=f"Bars per day over {len(days)} days of shared / consumption and "
                    "shared / production; incomplete days hatched.",
                    plot=partial(
                        community_charts.plot_rates, frame=_frame(days), interval="day", tz=tz
                    ),
                ),
                Chart(
                    name="monthly",
                    title="Self-sufficiency and self-consumption per local month",
                    alt="Bars per month of shared / consumption and shared / production: "
                    + "; ".join(
                        f"{m.start:%Y-%m} {_percent(m.shared, m.consumption)} and "
                        f"{_percent(m.shared, m.production)}"
                        for m in months
                    )
                    + ".",
                    plot=partial(
                        community_charts.plot_rates, frame=_frame(months), interval="month", tz=tz
                    ),
                ),
            )
        }
    return CommunityReport(
        community_id=community.pk,
        allocation=community.allocation,
        tz=tz,
        interval=str(interval),
        start=start,
        end=end,
        total=_total(months),
        coverage=coverage,
        days=days,
        months=months,
        member_months=member_months,
        member_totals=totals,
        answers=answers(totals, coverage),
        charts=charts,
    )


def _source(
    community: Community, *, params: ReportParams
) -> tuple[str, Callable[[], CommunityReport]]:
    """The cache key of the community's report for the parameters, and how to build it.

    The key names the community's settings, its members and the state of their energy
    channels: a change to any gives a new report.
    """
    first, last = balance_window(community, start=None, end=None)
    start, end = resolve_window(params, first=first, last=last and last - STEP, step=STEP)
    members = [(m.unit_id, m.role, m.share) for m in community.members.all()]
    channels = Channel.objects.filter(
        unit__memberships__community=community, obis__in=ENERGY_CODES
    ).values_list("pk", "data_changed_at", "reading_count")
    key = _cache_key(
        "community",
        community.pk,
        community.changed_at,
        members,
        sorted(channels),
        start,
        end,
        params.tz.key,
        params.interval,
    )

    def build() -> CommunityReport:
        return build_community_report(community, params=params, start=start, end=end)

    return key, build


def community_report(community: Community, *, params: ReportParams) -> CommunityReport:
    """The community's report, from the cache when nothing it is built from has changed."""
    return _cached(*_source(community, params=params))


def community_chart_svg(community: Community, *, params: ReportParams, name: str) -> str | None:
    """Chart `name` of the community's report as SVG, cached; None if it has no such chart."""
    return _cached_chart(*_source(community, params=params), name=name)
