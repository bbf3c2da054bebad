"""Routes under /api/: version 1 of the API, its OpenAPI schema and the two documentation UIs."""

from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_update
from django.urls import path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)
from rest_framework.routers import DefaultRouter

from meters.api.views import ReadingViewSet, UnitViewSet

router = DefaultRouter()
router.register("v1/units", UnitViewSet, basename="unit")
router.register("v1/readings", ReadingViewSet, basename="reading")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file of its own (?script), so
    # the page runs no inline script under the Content-Security-Policy.
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="api/swagger_ui.html"),
        name="swagger-ui",
    ),
    # Redoc's own template loads fonts from Google; this one does not (works offline). Redoc
    # writes its styles into <style> elements it generates, without a nonce, and runs its
    # search in a worker it makes from a blob: URL. (Its "API docs by Redocly" logo, which it
    # would fetch from its CDN, stays blocked.)
    path(
        "redoc/",
        csp_update({"style-src": [UNSAFE_INLINE], "worker-src": [SELF, "blob:"]})(
            SpectacularRedocView.as_view(url_name="schema", template_name="api/redoc.html")
        ),
        name="redoc",
    ),
    *router.urls,
]
