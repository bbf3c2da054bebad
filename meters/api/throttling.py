"""Throttles of the API, with their rates read from the settings on each request.

DRF's own classes copy their rates once, when first imported; reading API_THROTTLE_ANON and
API_THROTTLE_USER here lets the environment (and a test's settings) change them.
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
