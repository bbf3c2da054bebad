"""CSV export: streamed row by row from a database cursor, never built in memory."""

import csv
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice

from django.http import StreamingHttpResponse
from rest_framework.renderers import BaseRenderer, JSONRenderer

# Rows joined into one chunk of the response: fewer, larger writes to the socket.
ROWS_PER_CHUNK = 1000


class CSVRenderer(BaseRenderer):
    """Makes `format=csv` and `Accept: text/csv` select CSV; the views stream the body.

    Only error responses reach render(), and they are switched to JSON by the views, so this
    renders nothing itself.
    """

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return JSONRenderer().render(data)


class _Line:
    """A file-like object whose write() returns the line, for csv.writer."""

    def write(self, value: str) -> str:
        return value


def csv_response(
    *, filename: str, header: Sequence[str], rows: Iterable[Sequence]
) -> StreamingHttpResponse:
    writer = csv.writer(_Line())

    def chunks() -> Iterator[str]:
        yield writer.writerow(header)
        iterator = iter(rows)
        while chunk := list(islice(iterator, ROWS_PER_CHUNK)):
            yield "".join(writer.writerow(row) for row in chunk)

    response = StreamingHttpResponse(chunks(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
