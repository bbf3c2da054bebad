from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.templatetags.static import static
from django.utils import timezone
from django.views.generic import RedirectView

from meters.models import Channel, Unit
from meters.selectors import channel_completeness, visible_units_with_channels


@dataclass(frozen=True, slots=True)
class UnitRow:
    unit: Unit
    channels: list[tuple[Channel, float]]


@login_required
def home(request):
    """The landing page: the units the user may read, each with its channels, their spans and
    completeness, and links to the unit's report, API and admin page."""
    rows = [
        UnitRow(unit, [(channel, channel_completeness(channel)) for channel in unit.channels.all()])
        for unit in visible_units_with_channels(user=request.user)
    ]
    return render(request, "home.html", {"rows": rows, "tz": timezone.get_current_timezone()})


class FaviconView(RedirectView):
    """Browsers ask for /favicon.ico on pages that name no icon (the admin, the API's
    browsable pages); the icon is a static file, under a hashed name in production."""

    permanent = False

    def get_redirect_url(self, *args, **kwargs) -> str:
        return static("exnaton/favicon.ico")
