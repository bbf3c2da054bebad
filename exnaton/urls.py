from django.contrib import admin
from django.urls import include, path

from exnaton.health import healthz, readyz
from meters.views import home

urlpatterns = [
    path("", home, name="home"),
    path("admin/", admin.site.urls),
    # The REST API, its OpenAPI schema, Swagger UI and Redoc (meters/api/urls.py).
    path("api/", include("meters.api.urls")),
    path("analysis/", include("analysis.urls")),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
]
