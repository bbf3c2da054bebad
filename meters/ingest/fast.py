"""The parse's accelerator: a document of at most FAST_BYTES is decoded at once by msgspec's C
decoder instead of ijson's stream, into the same records, validated by the same Validator.

It takes a document only when the reference parse (parse.parse_readings) would read the same
records from it: the stream guard passes it whole, msgspec decodes it as `{"data": [..]}`
with no other top-level key, and `data` cannot be a repeated key (msgspec keeps the last
one, ijson reads both). Every other document, and every larger one, goes through the
reference parse, so every refusal and its message come from one place. Memory stays bounded:
at most FAST_BYTES are held, then the document streams.
"""

import io
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import IO, Any

import msgspec

from meters.ingest import parse
from meters.ingest.errors import DocumentError
from meters.ingest.parse import ParsedReading, Rejection

# A response of the API is bounded by its `limit` (10,000 records, ~2.5 MB pretty-printed):
# it fits, with room for records of two channels.
FAST_BYTES = 8 * 1024 * 1024
# Above FAST_BYTES the document streams; what was read to find that out is read again from
# memory in pieces of this size.
_PIECE = 64 * 1024


class _Document(msgspec.Struct, forbid_unknown_fields=True):
    data: list[Any]


# Numbers as ijson reads them with use_float=False: an int, or a Decimal exactly as written.
_decoder = msgspec.json.Decoder(_Document, float_hook=Decimal)


def parse_readings(
    stream: IO[bytes], *, expected_muid: uuid.UUID | None = None, first_record: int = 0
) -> Iterator[ParsedReading | Rejection]:
    """What parse.parse_readings yields for the document of `stream`, decoded at once when it
    is small and plain (see the module's docstring)."""
    head = _read_at_most(stream, FAST_BYTES + 1)
    records = _records(head) if len(head) <= FAST_BYTES else None
    if records is not None:
        return parse.validate(enumerate(records, first_record), expected_muid=expected_muid)
    rest = _Chained(head, stream) if len(head) > FAST_BYTES else io.BytesIO(head)
    return parse.parse_readings(rest, expected_muid=expected_muid, first_record=first_record)


def _records(body: bytes) -> list[Any] | None:
    """The records of a whole document, or None when the reference parse must read it."""
    if b"\\u" in body or body.count(b'"data"') != 1:
        return None  # `data` may be a repeated key (perhaps spelled with escapes)
    try:
        parse.check_document(body)
        records = _decoder.decode(body).data
    except (DocumentError, msgspec.DecodeError, UnicodeDecodeError):
        return None
    # The reference parse explains an empty list by the document's head: let it.
    return records or None


def _read_at_most(stream: IO[bytes], size: int) -> bytes:
    """Up to `size` bytes, fewer only at the end of the stream (a network read may return
    fewer than asked before the end)."""
    pieces, have = [], 0
    while have < size:
        piece = stream.read(size - have)
        if not piece:
            break
        pieces.append(piece)
        have += len(piece)
    return b"".join(pieces)


class _Chained:
    """`head`, then the rest of `stream`: the reference parse reads a document the fast path
    has begun."""

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        self._head = memoryview(head)
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if self._head:
            size = _PIECE if size < 0 else size
            piece, self._head = self._head[:size], self._head[size:]
            return bytes(piece)
        return self._stream.read(size)
