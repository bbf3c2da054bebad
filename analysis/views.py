"""The analysis pages and their chart images: validate the query, fetch the (cached) report,
render it.

A page names its charts by URL only; each image is its own request, drawn from the cached
report, so the page returns before any chart is drawn and the browser fetches them in parallel.
"""

from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import InvalidPage, Page, Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.utils.http import urlencode

from analysis.params import ReportParamsForm
from analysis.reports import (
    chosen_channel,
    energy_channels,
    not_analysed,
    overview_chart_svg,
    overview_report,
    unit_chart_svg,
    unit_report,
    with_chart_hrefs,
)
from meters.api.throttling import AnalysisRateThrottle
from meters.communities import visible_communities
from meters.models import Channel, Unit
from meters.selectors import visible_units_with_channels

# A chart URL carries the report's version (its data state), so a browser may keep the image.
CHART_MAX_AGE = 3600


def throttled(view):
    """A view counted against the user's ANALYSIS_THROTTLE_USER: past it, a 429 with Retry-After."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        throttle = AnalysisRateThrottle()
        if throttle.allow_request(request, None):
            return view(request, *args, **kwargs)
        wait = max(1, round(throttle.wait() or 1))
        response = HttpResponse(
            f"Too many requests to the analysis pages: try again in {wait} seconds.\n",
            status=429,
            content_type="text/plain; charset=utf-8",
        )
        response["Retry-After"] = str(wait)
        return response

    return wrapped


def _bad_request(request: HttpRequest, errors: list[tuple[str, str]]) -> HttpResponse:
    return render(request, "analysis/bad_request.html", {"errors": errors}, status=400)


def report_href(unit: Unit | str, channel: Channel | str | None = None, **query: str) -> str:
    """The URL of a unit's report, naming the channel only when one is chosen."""
    muid = unit.muid if isinstance(unit, Unit) else unit
    obis = channel.obis if isinstance(channel, Channel) else channel
    params = {key: value for key, value in {"channel": obis, **query}.items() if value}
    url = reverse("analysis:report", args=[muid])
    return f"{url}?{urlencode(params)}" if params else url


def _chart_query(request: HttpRequest, version: str, *extra: str) -> str:
    """The page's own parameters (those of the report, and `extra`), for its chart URLs, plus
    the report's version."""
    names = [*ReportParamsForm.base_fields, *extra]
    query = {name: request.GET[name] for name in names if request.GET.get(name)}
    return urlencode({**query, "v": version})


def _pager(request: HttpRequest, page: Page) -> dict[str, str | None]:
    """The overview's links to the pages before and after `page` (None: there is none), with
    the request's other parameters."""

    def href(number: int) -> str:
        query = request.GET.copy()
        query["page"] = str(number)
        return f"{reverse('analysis:overview')}?{query.urlencode()}"

    return {
        "previous_href": href(page.previous_page_number()) if page.has_previous() else None,
        "next_href": href(page.next_page_number()) if page.has_next() else None,
    }


def _overview_page(request: HttpRequest) -> tuple[Page, ReportParamsForm] | HttpResponse:
    """The units of the overview's `page` (ANALYSIS_OVERVIEW_UNITS a page, by muid) that the
    user may read, and the validated parameters; or the 400 page."""
    form = ReportParamsForm(request.GET)
    if not form.is_valid():
        return _bad_request(request, form.error_list())
    units = visible_units_with_channels(user=request.user).order_by("muid")
    try:
        page = Paginator(units, settings.ANALYSIS_OVERVIEW_UNITS).page(request.GET.get("page", 1))
    except InvalidPage as error:
        return _bad_request(request, [("page", str(error))])
    return page, form


def _svg_response(svg: str | None) -> HttpResponse:
    if svg is None:
        raise Http404("No such chart.")
    response = HttpResponse(svg, content_type="image/svg+xml")
    # Per user (the report holds only what its reader may see), so no shared cache keeps it.
    patch_cache_control(response, private=True, max_age=CHART_MAX_AGE)
    # An image needs no script, however it is opened.
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


def _unit_channel(
    request: HttpRequest, muid
) -> tuple[Unit, Channel | None, ReportParamsForm] | HttpResponse:
    """The unit the user may read, its channel and the validated parameters; or the 400 page.

    A unit the user may not read is a 404, as one that does not exist. The channel is the one
    `channel` names, else the unit's first energy channel (None if it has none).
    """
    unit = get_object_or_404(visible_units_with_channels(user=request.user), muid=muid)
    form = ReportParamsForm(request.GET)
    if not form.is_valid():
        return _bad_request(request, form.error_list())
    try:
        channel = chosen_channel(unit, form.params().channel)
    except ValueError as error:
        return _bad_request(request, [("channel", str(error))])
    return unit, channel, form


@login_required
@throttled
def overview(request: HttpRequest) -> HttpResponse:
    """A page of the units the user may read, with their channels, and their comparison."""
    chosen = _overview_page(request)
    if isinstance(chosen, HttpResponse):
        return chosen
    page, form = chosen
    report = overview_report(units=page.object_list, params=form.params())
    query = _chart_query(request, report.version, "page")
    report = with_chart_hrefs(
        report, lambda name: f"{reverse('analysis:overview_chart', args=[name])}?{query}"
    )
    tz = request.GET.get("tz", "")
    # A channel that is not analysed links to its unit's page, which says why.
    rows = [
        (row, report_href(row.muid, None if row.not_analysed else row.obis, tz=tz))
        for row in report.rows
    ]
    communities = visible_communities(user=request.user)
    context = {
        "report": report,
        "rows": rows,
        "communities": communities,
        "page": page,
        **_pager(request, page),
    }
    return render(request, "analysis/overview.html", context)


@login_required
@throttled
def overview_chart(request: HttpRequest, name: str) -> HttpResponse:
    """One chart of the overview as SVG, built from the units of its page."""
    chosen = _overview_page(request)
    if isinstance(chosen, HttpResponse):
        return chosen
    page, form = chosen
    return _svg_response(
        overview_chart_svg(units=page.object_list, params=form.params(), name=name)
    )


@login_required
@throttled
def report(request: HttpRequest, muid) -> HttpResponse:
    """The report of one unit's energy channel (its first unless `channel` names another)."""
    chosen = _unit_channel(request, muid)
    if isinstance(chosen, HttpResponse):
        return chosen
    unit, channel, form = chosen
    report = None
    if channel is not None:
        report = unit_report(channel=channel, params=form.params())
        query = _chart_query(request, report.version)
        report = with_chart_hrefs(
            report,
            lambda name: f"{reverse('analysis:report_chart', args=[unit.muid, name])}?{query}",
        )
    context = {
        "unit": unit,
        "channel": channel,
        "form": form,
        "channel_links": [
            (c, report_href(unit, c, tz=request.GET.get("tz", ""))) for c in energy_channels(unit)
        ],
        # Channels the analysis does not read (a voltage, say), named with the reason.
        "not_energy": not_analysed(unit),
        "report": report,
    }
    return render(request, "analysis/report.html", context)


@login_required
@throttled
def report_chart(request: HttpRequest, muid, name: str) -> HttpResponse:
    """One chart of a unit's report as SVG: the page's parameters, access and errors."""
    chosen = _unit_channel(request, muid)
    if isinstance(chosen, HttpResponse):
        return chosen
    _unit, channel, form = chosen
    if channel is None:
        raise Http404("This unit has no energy channels.")
    return _svg_response(unit_chart_svg(channel=channel, params=form.params(), name=name))
