"""A community's page and its chart images: the community the user may read, the validated
parameters (the community's zone by default), the cached report."""

from zoneinfo import ZoneInfo

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from analysis.community_report import community_chart_svg, community_report
from analysis.params import ReportParamsForm
from analysis.reports import with_chart_hrefs
from analysis.views import _bad_request, _chart_query, _svg_response, report_href, throttled
from meters.communities import visible_communities
from meters.models import Community


def _community_params(request: HttpRequest, pk: int) -> tuple[Community, ReportParamsForm]:
    """The community the user may read (else a 404, as one that does not exist) and the page's
    parameters, read in the community's zone unless tz names another."""
    community = get_object_or_404(visible_communities(user=request.user), pk=pk)
    return community, ReportParamsForm(request.GET, default_tz=ZoneInfo(community.tz))


@login_required
@throttled
def community(request: HttpRequest, pk: int) -> HttpResponse:
    """A community's flows, rates, member table and the answer for each member."""
    community, form = _community_params(request, pk)
    if not form.is_valid():
        return _bad_request(request, form.error_list())
    report = community_report(community, params=form.params())
    query = _chart_query(request, report.version)
    report = with_chart_hrefs(
        report,
        lambda name: f"{reverse('analysis:community_chart', args=[community.pk, name])}?{query}",
    )
    tz = request.GET.get("tz", "")
    members = [(m, report_href(m.unit, tz=tz)) for m in community.members.all()]
    context = {"community": community, "members": members, "form": form, "report": report}
    return render(request, "analysis/community.html", context)


@login_required
@throttled
def community_chart(request: HttpRequest, pk: int, name: str) -> HttpResponse:
    """One chart of a community's page as SVG."""
    community, form = _community_params(request, pk)
    if not form.is_valid():
        return _bad_request(request, form.error_list())
    return _svg_response(community_chart_svg(community, params=form.params(), name=name))
