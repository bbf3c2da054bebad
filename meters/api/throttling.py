"""Throttles of the API and of the analysis pages, with their rates read from the settings on
each request.

DRF's own classes copy their rates once, when first imported; reading API_THROTTLE_ANON,
API_THROTTLE_USER and ANALYSIS_THROTTLE_USER here lets the environment (and a test's settings)
change them.
"""

from django.conf import settings
from rest_framework import throttling


class AnonRateThrottle(throttling.AnonRateThrottle):
    """Anonymous clients, counted by address."""

    def get_rate(self) -> str | None:
        return settings.API_THROTTLE_ANON


class UserRateThrottle(throttling.UserRateThrottle):
    """Logged-in users, counted per user whatever their address."""

    def get_rate(self) -> str | None:
        return settings.API_THROTTLE_USER


class AnalysisRateThrottle(throttling.UserRateThrottle):
    """Logged-in users of the analysis pages (analysis.views), counted apart from the API."""

    scope = "analysis"

    def get_rate(self) -> str | None:
        return settings.ANALYSIS_THROTTLE_USER
