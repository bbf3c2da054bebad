"""`{{ when|local }}`: a datetime in the page's zone, safe at the far ends of the calendar."""

from django import template

from meters.moments import local_text

register = template.Library()


# Not Django's `date` filter: its value is converted to the page's zone before the filter runs,
# and that conversion is what overflows on 9999-12-31T23:45Z in a zone east of UTC.
@register.filter(expects_localtime=False)
def local(moment, fmt: str = "Y-m-d H:i") -> str:
    return local_text(moment, fmt)
