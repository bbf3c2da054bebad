"""The analysis pages: validate the query, fetch the (cached) report, render it."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import urlencode

from analysis.params import ReportParamsForm
from analysis.reports import overview_report, unit_report
from meters.models import Channel, Unit
from meters.selectors import visible_units_with_channels


def _bad_request(request: HttpRequest, errors: list[tuple[str, str]]) -> HttpResponse:
    return render(request, "analysis/bad_request.html", {"errors": errors}, status=400)


def report_href(unit: Unit | str, channel: Channel | str | None = None, **query: str) -> str:
    """The URL of a unit's report, naming the channel only when one is chosen."""
    muid = unit.muid if isinstance(unit, Unit) else unit
    obis = channel.obis if isinstance(channel, Channel) else channel
    params = {key: value for key, value in {"channel": obis, **query}.items() if value}
    url = reverse("analysis:report", args=[muid])
    return f"{url}?{urlencode(params)}" if params else url


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    """Every unit the user may read with its channels, and the comparison of all of them."""
    form = ReportParamsForm(request.GET)
    if not form.is_valid():
        return _bad_request(request, form.error_list())
    params = form.params()
    report = overview_report(units=visible_units_with_channels(user=request.user), params=params)
    tz = request.GET.get("tz", "")
    rows = [(row, report_href(row.muid, row.obis, tz=tz)) for row in report.rows]
    return render(request, "analysis/overview.html", {"report": report, "rows": rows})


@login_required
def report(request: HttpRequest, muid) -> HttpResponse:
    """The report of one unit's channel (its first channel unless `channel` names another).

    A unit the user may not read is a 404, as one that does not exist.
    """
    unit = get_object_or_404(visible_units_with_channels(user=request.user), muid=muid)
    form = ReportParamsForm(request.GET)
    if not form.is_valid():
        return _bad_request(request, form.error_list())
    params = form.params()
    channels = list(unit.channels.all())
    channel = next((c for c in channels if c.obis == params.channel), None)
    if params.channel and channel is None:
        known = ", ".join(c.obis for c in channels) or "none"
        message = f"unit {unit.muid} has no channel {params.channel} (it has: {known})."
        return _bad_request(request, [("channel", message)])
    channel = channel or (channels[0] if channels else None)
    context = {
        "unit": unit,
        "channel": channel,
        "form": form,
        "channel_links": [
            (c, report_href(unit, c, tz=request.GET.get("tz", ""))) for c in channels
        ],
        "report": unit_report(channel=channel, params=params) if channel else None,
    }
    return render(request, "analysis/report.html", context)
