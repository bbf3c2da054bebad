from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from exnaton.health import healthz, readyz
from exnaton.login import LoginForm, refused_as_429
from meters.metrics import metrics_view
from meters.views import FaviconView, home

urlpatterns = [
    path("", home, name="home"),
    path("admin/", admin.site.urls),
    # Login for the HTML pages (templates/registration/); API clients may use a token instead.
    # Failed logins are throttled per account and per client (exnaton/login.py).
    path(
        "accounts/login/",
        refused_as_429(auth_views.LoginView.as_view(authentication_form=LoginForm)),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The REST API (index at /api/v1/), its OpenAPI schema, Swagger UI and Redoc
    # (meters/api/urls.py).
    path("api/", include("meters.api.urls")),
    path("analysis/", include("analysis.urls")),
    path("favicon.ico", FaviconView.as_view(), name="favicon"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    # Prometheus: the fleet's state, for a Bearer METRICS_TOKEN or staff (meters/metrics.py).
    path("metrics", metrics_view, name="metrics"),
]
