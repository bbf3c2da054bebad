"""Routes under /api/: version 1 of the API with its index, the OpenAPI schema and the docs.

/api/v1/ lists every endpoint (ApiRootView); /api/ sends a browser there.
"""

from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_update
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from meters.api.communities import CommunityViewSet
from meters.api.docs import RedocView, redoc_bundle
from meters.api.views import ApiRootView, ReadingViewSet, UnitViewSet

router = SimpleRouter()
router.register("units", UnitViewSet, basename="unit")
router.register("readings", ReadingViewSet, basename="reading")
router.register("communities", CommunityViewSet, basename="community")

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="api-root"), name="api"),
    path("v1/", ApiRootView.as_view(), name="api-root"),
    path("v1/", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file of its own (?script), so
    # the page runs no inline script under the Content-Security-Policy.
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="api/swagger_ui.html"),
        name="swagger-ui",
    ),
    # Redoc writes its styles into <style> elements it generates, without a nonce, and runs
    # its search in a worker it makes from a blob: URL.
    path(
        "redoc/",
        csp_update({"style-src": [UNSAFE_INLINE], "worker-src": [SELF, "blob:"]})(
            RedocView.as_view(url_name="schema")
        ),
        name="redoc",
    ),
    path("redoc/redoc.standalone.js", redoc_bundle, name="redoc-bundle"),
]
