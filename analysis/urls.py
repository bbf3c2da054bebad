from django.urls import path, register_converter

from analysis import community_views, views


class ChartName:
    """A chart's name: a short lowercase word (it becomes part of a cache key)."""

    regex = "[a-z]{1,32}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(ChartName, "chart")

app_name = "analysis"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("charts/<chart:name>.svg", views.overview_chart, name="overview_chart"),
    path("<uuid:muid>/", views.report, name="report"),
    path("<uuid:muid>/charts/<chart:name>.svg", views.report_chart, name="report_chart"),
    path("communities/<int:pk>/", community_views.community, name="community"),
    path(
        "communities/<int:pk>/charts/<chart:name>.svg",
        community_views.community_chart,
        name="community_chart",
    ),
]
