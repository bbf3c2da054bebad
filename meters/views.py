from django.shortcuts import render

from meters.models import Unit


def home(request):
    """The landing page: the units held, with their channels and spans."""
    units = Unit.objects.prefetch_related("channels")
    return render(request, "home.html", {"units": units})
