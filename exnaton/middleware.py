"""Cache-Control for answers that belong to the user who asked for them."""

from django.utils.cache import patch_cache_control


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
