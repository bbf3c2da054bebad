"""Failed logins throttled per account and per client, on /accounts/login/ and /admin/login/.

Each failure is counted, in the default cache, against the user name tried and against the
client's address (DRF's rule, so DJANGO_NUM_PROXIES decides it as for the API's throttles).
Past LOGIN_FAILURES_PER_ACCOUNT for a name, or LOGIN_FAILURES_PER_CLIENT for an address, within
LOGIN_LOCKOUT_SECONDS of the first failure, a login is refused before its password is checked:
a 429 with a message saying when to try again. A success clears the account's count (not the
address's: a login of one's own must not buy more guesses at other accounts).

Counts are read and written, not incremented atomically (the file cache has no atomic
increment): attempts racing each other may pass the limit by the number served at once.
"""

import hashlib
import time
from functools import wraps

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.http import HttpRequest
from rest_framework.throttling import BaseThrottle


def _counters(request: HttpRequest, username: str) -> list[tuple[str, int]]:
    """(cache key, limit) of the account tried and of the client trying it."""
    account = hashlib.sha256(username.strip().casefold().encode()).hexdigest()
    address = BaseThrottle().get_ident(request) or ""
    client = hashlib.sha256(address.encode()).hexdigest()
    return [
        (f"login-failures:account:{account}", settings.LOGIN_FAILURES_PER_ACCOUNT),
        (f"login-failures:client:{client}", settings.LOGIN_FAILURES_PER_CLIENT),
    ]


def seconds_refused(request: HttpRequest, username: str) -> int:
    """Seconds until a login of `username` from this client may be tried again; 0: now."""
    now = time.time()
    counters = _counters(request, username)
    counts = cache.get_many([key for key, _ in counters])
    wait = 0.0
    for key, limit in counters:
        count, until = counts.get(key, (0, now))
        if count >= limit:
            wait = max(wait, until - now)
    return max(1, round(wait)) if wait > 0 else 0


def record_failure(request: HttpRequest, username: str) -> None:
    now = time.time()
    for key, _ in _counters(request, username):
        count, until = cache.get(key) or (0, now + settings.LOGIN_LOCKOUT_SECONDS)
        cache.set(key, (count + 1, until), timeout=max(1, round(until - now)))


def record_success(request: HttpRequest, username: str) -> None:
    account_key, _ = _counters(request, username)[0]
    cache.delete(account_key)


class ThrottledLogin:
    """Mixed into an AuthenticationForm: refuses a throttled login before checking it."""

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        wait = seconds_refused(self.request, username)
        if wait:
            self.refused_for = wait
            minutes = -(-wait // 60)
            raise forms.ValidationError(
                "Too many failed logins for this account or from this address. "
                f"Try again in {minutes} minute{'s' if minutes != 1 else ''}.",
                code="throttled",
            )
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            record_failure(self.request, username)
            raise
        record_success(self.request, username)
        return cleaned


class LoginForm(ThrottledLogin, AuthenticationForm):
    pass


class AdminLoginForm(ThrottledLogin, AdminAuthenticationForm):
    pass


def refused_as_429(view):
    """A login view whose refusal by the throttle is a 429 with Retry-After (not a 200)."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        form = (getattr(response, "context_data", None) or {}).get("form")
        wait = getattr(form, "refused_for", 0)
        if wait:
            response.status_code = 429
            response["Retry-After"] = str(wait)
        return response

    return wrapped


class AdminSite(admin.AdminSite):
    """Django's admin site with the throttled login (installed by exnaton.apps.AdminConfig)."""

    login_form = AdminLoginForm

    def login(self, request, extra_context=None):
        return refused_as_429(super().login)(request, extra_context)
