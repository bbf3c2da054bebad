"""Routes under /api/: version 1 of the API with its index, the OpenAPI schema and the docs.

/api/v1/ lists every endpoint (ApiRootView); /api/ sends a browser there.
"""

from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from meters.api.docs import RedocView, redoc_bundle
from meters.api.views import ApiRootView, ReadingViewSet, UnitViewSet

router = SimpleRouter()
router.register("units", UnitViewSet, basename="unit")
router.register("readings", ReadingViewSet, basename="reading")

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="api-root"), name="api"),
    path("v1/", ApiRootView.as_view(), name="api-root"),
    path("v1/", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("redoc/", RedocView.as_view(url_name="schema"), name="redoc"),
    path("redoc/redoc.standalone.js", redoc_bundle, name="redoc-bundle"),
]
