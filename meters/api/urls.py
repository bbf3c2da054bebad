"""Routes under /api/: version 1 of the API, its OpenAPI schema and the two documentation UIs."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from meters.api.views import ReadingViewSet, UnitViewSet

router = DefaultRouter()
router.register("v1/units", UnitViewSet, basename="unit")
router.register("v1/readings", ReadingViewSet, basename="reading")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    # Redoc's own template loads fonts from Google; this one does not (works offline).
    path(
        "redoc/",
        SpectacularRedocView.as_view(url_name="schema", template_name="api/redoc.html"),
        name="redoc",
    ),
    *router.urls,
]
