"""The parse's accelerator: a document of at most FAST_BYTES is decoded by msgspec's C decoder
instead of ijson's stream, into the same records, validated by the same Validator.

It takes a document only when the reference parse (parse.parse_readings) would read the same
records from it: it passes the stream guard, it is ASCII without `\\u` escapes (so that `data`
cannot be a repeated key spelled another way: msgspec keeps the last, ijson reads both), `data`
appears once, and msgspec decodes it as `{"data": [..]}` with no other top-level key. Every
other document, and every larger one, goes through the reference parse, so every refusal and
its message come from one place. Memory stays bounded: at most FAST_BYTES are held, then the
document streams.
"""

import mmap
import uuid
from collections.abc import Iterator
from decimal import Decimal
from itertools import count
from typing import IO

import msgspec

from meters.ingest import parse
from meters.ingest.errors import DocumentError
from meters.ingest.parse import ParsedReading, Rejection

# A response of the API is bounded by its `limit` (10,000 records, ~2.5 MB pretty-printed):
# it fits, with room for records of two channels.
FAST_BYTES = 8 * 1024 * 1024
# The size of each read of the stream, as ijson's.
PIECE = 64 * 1024


class _Document(msgspec.Struct, forbid_unknown_fields=True):
    data: list[msgspec.Raw]


# The document checked whole, its records kept as their bytes: each is decoded as it is
# validated, so that one record at a time is held as objects, as with the stream parse.
_document = msgspec.json.Decoder(_Document)
# A record as ijson builds it with use_float=False: a number is an int, or a Decimal exactly
# as written.
_record = msgspec.json.Decoder(float_hook=Decimal)


def parse_readings(
    stream: IO[bytes], *, expected_muid: uuid.UUID | None = None, first_record: int = 0
) -> Iterator[ParsedReading | Rejection]:
    """What parse.parse_readings yields for the document of `stream`, decoded at once when it
    is small and plain (see the module's docstring)."""
    head = _Head(parse.utf8(stream))
    records = head.records()
    if records is None:
        return parse.parse_readings(head, expected_muid=expected_muid, first_record=first_record)
    numbered = zip(count(first_record), map(_record.decode, records), strict=False)
    return parse.validate(numbered, expected_muid=expected_muid)


class _Head:
    """The first FAST_BYTES + 1 bytes of a document, read through the stream guard into a
    private mapping; read again from there (then from the stream) by the reference parse.

    A mapping, not bytes: it goes back to the system with the document, where a heap block
    of this size would stay with the allocator of each fetcher thread that read one."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._map = mmap.mmap(-1, FAST_BYTES + 1, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        self._size = 0
        self._replayed = 0
        self._complete = False
        self._ascii = True
        self._guarded = True
        guard = parse.StreamGuard(stream)
        while self._size <= FAST_BYTES:
            piece = stream.read(min(PIECE, FAST_BYTES + 1 - self._size))
            if not piece:
                self._complete = True
                break
            self._map.write(piece)
            self._size += len(piece)
            self._ascii = self._ascii and piece.isascii()
            try:
                guard.check(piece)
            except DocumentError:
                self._guarded = False  # the reference parse says why, at its point
                break

    def records(self) -> list[msgspec.Raw] | None:
        """The records, if the document is whole and plain; None when the reference parse
        must read it (an empty list too: it explains one by the document's head)."""
        if not (self._complete and self._ascii and self._guarded):
            return None
        found, end = self._map.find, self._size
        first = found(b'"data"', 0, end)
        if found(b"\\u", 0, end) >= 0 or found(b'"data"', first + 1, end) >= 0:
            return None
        try:
            records = _document.decode(memoryview(self._map)[:end]).data
        except msgspec.DecodeError:
            return None
        return records or None

    def read(self, size: int = -1) -> bytes:
        """The document again, from its start (the reference parse reads it so)."""
        if self._replayed < self._size:
            size = PIECE if size < 0 else size
            end = min(self._size, self._replayed + size)
            piece, self._replayed = self._map[self._replayed : end], end
            if end == self._size:
                self._map = None  # read again in full: its memory can go
            return piece
        return self._stream.read(size)
