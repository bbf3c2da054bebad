"""API errors as JSON: {"errors": {"<parameter>": ["<reason>", ...]}}.

A 400 names the query parameter at fault; any other client error (404, 405, 406...) reports
under "detail". Nothing here turns a server fault into a client error.
"""

from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    # DRF has turned Http404 and PermissionDenied into API exceptions in response.data.
    data = response.data
    if isinstance(exc, exceptions.ValidationError) and isinstance(data, dict):
        errors = {name: _reasons(reasons) for name, reasons in data.items()}
    elif isinstance(data, dict) and "detail" in data:
        errors = {"detail": _reasons(data["detail"])}
    else:
        errors = {"detail": _reasons(data)}
    response.data = {"errors": errors}
    return response


def _reasons(detail) -> list[str]:
    if isinstance(detail, list):
        return [str(reason) for reason in detail]
    if isinstance(detail, dict):
        return [str(reason) for reasons in detail.values() for reason in _reasons(reasons)]
    return [str(detail)]
