from django.shortcuts import render

from meters.selectors import units_with_channels


def home(request):
    """The landing page: the units held, with their channels and spans."""
    units = units_with_channels()
    return render(request, "home.html", {"units": units})
