from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from meters.selectors import visible_units_with_channels


@login_required
def home(request):
    """The landing page: the units the user may read, with their channels and spans."""
    units = visible_units_with_channels(user=request.user)
    return render(request, "home.html", {"units": units})
