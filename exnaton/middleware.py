"""The project's own middleware: Cache-Control for answers that belong to the user who asked
for them, and compression of the API's data."""

from django.middleware.gzip import GZipMiddleware
from django.utils.cache import patch_cache_control

# What the API answers with data: JSON, and the CSV export.
COMPRESSED_TYPES = {"application/json", "text/csv"}


def private_to_the_user(get_response):
    """`Cache-Control: private` on every response to a logged-in user (a session, or a token,
    which DRF authenticates within the view) unless the view set its own: a shared cache in
    front must never hand one user's readings or pages to another."""

    def middleware(request):
        response = get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not response.has_header("Cache-Control"):
            patch_cache_control(response, private=True)
        return response

    return middleware


class CompressedApiData(GZipMiddleware):
    """gzip for the API's JSON and CSV, to a client that accepts it: a year of 15-minute buckets
    is megabytes, and neither gunicorn nor an ingress compresses by default. Never an HTML page:
    it carries the CSRF token, which compression beside reflected input would leak (BREACH)."""

    def process_response(self, request, response):
        media_type = response.get("Content-Type", "").split(";")[0].strip()
        if not request.path.startswith("/api/") or media_type not in COMPRESSED_TYPES:
            return response
        return super().process_response(request, response)
