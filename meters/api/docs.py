"""Redoc served without a request that leaves the site.

drf-spectacular-sidecar ships Redoc's bundle, but the bundle draws the "API docs by Redocly"
logo from Redocly's CDN, unconditionally (no Redoc option hides it): offline the request
fails and the browser logs an error. The bundle is served here with that one address pointing
at the project's own logo; everything else is the sidecar's file, byte for byte.
"""

from functools import cache
from pathlib import Path

from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse
from django.templatetags.static import static
from django.urls import reverse
from django.utils.cache import patch_cache_control
from drf_spectacular.views import SpectacularRedocView

BUNDLE = "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"
REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
LOGO = "exnaton/logo.svg"
# The rewritten bundle no longer matches the sidecar's source map.
SOURCE_MAP = "//# sourceMappingURL=redoc.standalone.js.map"


@cache
def _bundle() -> bytes:
    text = Path(finders.find(BUNDLE)).read_text(encoding="utf-8")
    return text.replace(REDOCLY_LOGO, static(LOGO)).replace(SOURCE_MAP, "").encode()


def redoc_bundle(request: HttpRequest) -> HttpResponse:
    """Redoc's standalone bundle, its logo on this site (see the module docstring)."""
    response = HttpResponse(_bundle(), content_type="text/javascript; charset=utf-8")
    patch_cache_control(response, public=True, max_age=24 * 3600)
    return response


class RedocView(SpectacularRedocView):
    """Redoc with the bundle above and a template without Google Fonts."""

    template_name = "api/redoc.html"

    @staticmethod
    def _redoc_standalone() -> str:
        return reverse("redoc-bundle")
