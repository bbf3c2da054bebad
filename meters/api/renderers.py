"""The API's renderers: JSON through orjson; CSV streamed row by row from a database cursor,
never built in memory; DRF's browsable pages under a policy their templates fit."""

import csv
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice

import orjson
from csp.constants import UNSAFE_INLINE
from django.http import StreamingHttpResponse
from rest_framework import renderers
from rest_framework.renderers import BaseRenderer, JSONRenderer

# Rows joined into one chunk of the response: fewer, larger writes to the socket.
ROWS_PER_CHUNK = 1000


class BrowsableAPIRenderer(renderers.BrowsableAPIRenderer):
    """DRF's HTML pages of the API, whose templates style elements inline (style="..." and a
    <style> of highlighting): their responses allow inline styles. Scripts stay the project's
    own files only."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if response is not None:
            # What django-csp's csp_update decorator sets; its middleware reads it.
            response._csp_update = {"style-src": [UNSAFE_INLINE]}
        return super().render(data, accepted_media_type, renderer_context)


class FastJSONRenderer(JSONRenderer):
    """The output of DRF's JSONRenderer, in a quarter of the time.

    An hourly month is 720 buckets of 8 fields: the json module took 1.4-2.3 ms to write
    them, orjson 0.4 ms (docs/BENCHMARKS.md). The answers of the readings endpoints
    are text, integers and null (serializers.aggregate_data, reading_page_data) or error
    messages, which orjson writes as DRF does: compact, UTF-8, keys in order. Anything else
    goes to DRF's encoder (orjson's own forms of datetimes and dataclasses are turned off);
    indented output and anything orjson refuses (e.g. an integer beyond 64 bits) go the
    stock way.
    """

    _OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None or self.get_indent(accepted_media_type, renderer_context or {}):
            return super().render(data, accepted_media_type, renderer_context)
        try:
            body = orjson.dumps(data, default=self.encoder_class().default, option=self._OPTIONS)
        except orjson.JSONEncodeError:
            return super().render(data, accepted_media_type, renderer_context)
        # As DRF does: JSON that is also valid JavaScript.
        return body.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")


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
