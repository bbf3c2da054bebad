"""Stream-parse a meter-data document and validate each record into readings.

A document is `{"data": [record, ...]}`. A record carries a timestamp, `tags` (muid, quality),
a `measurement`, and one or more OBIS-code keys (hex as the feed writes them, or readable) whose
non-null values are readings of that channel. The document is read as a stream (ijson), one
record built at a time, so memory does not grow with the document and the layout (spaces, line
breaks, key order) changes nothing.
This is the reference parse; meters/ingest/fast.py decodes a small plain document at once into
the same records. Every rule a record must meet is in `Validator`, which both call;
docs/RELIABILITY.md lists what hostile documents get.
"""

import codecs
import json
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from itertools import accumulate
from typing import IO, Any, NamedTuple

import ijson

from meters import obis
from meters.ingest.errors import DocumentError, one_line
from meters.models import VALUE_DECIMAL_PLACES, VALUE_MAX_DIGITS, VALUE_QUANTUM
from meters.moments import EARLIEST, LATEST, format_utc

# Quality and measurement are short words; the bound keeps them safe to pass to COPY as text.
LABEL_PATTERN = re.compile(r"\A[A-Za-z0-9_.-]{1,32}\Z")
DEFAULT_QUALITY = "unknown"
VALUE_LIMIT = Decimal(10) ** (VALUE_MAX_DIGITS - VALUE_DECIMAL_PLACES)
# A record is three levels down ({"data": [{"tags": {...}}]}); far deeper nesting is an attack
# on memory (ijson's own prefix tracking grows with the square of the depth).
MAX_DEPTH = 16
# No meter value has this many digits; a longer run of digits is refused before ijson turns it
# into a Python int (which it cannot do past 4,300 digits, and then crashes the process).
MAX_DIGITS = 100
_DIGIT_MARKS = bytes(ord("d") if byte in b"0123456789" else ord(" ") for byte in range(256))
_LONG_RUN = b"d" * (MAX_DIGITS + 1)
# What StreamGuard reads the nesting from: strings (escapes already dropped) and brackets.
_ESCAPES = re.compile(rb"\\.", re.DOTALL)
_STRINGS = re.compile(rb'"[^"]*"')
_NOT_STRUCTURE = bytes(set(range(256)) - set(b'"[]{}'))
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
# The head of a document kept to explain an empty result precisely.
HEAD_BYTES = 64 * 1024
# The feed's own timestamp form (2023-02-28T23:45:00.000Z): handed to the database as it came,
# PostgreSQL reads it as the same instant (formatting a datetime back costs more).
CANONICAL_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z"
)


# A document in UTF-8 may begin with a byte-order mark (RFC 8259 lets a parser ignore it), and
# Windows' tools write one, or write UTF-16: marks that tell an encoding, the longest first.
BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# The size of each read of a document that is transcoded, as ijson's.
TRANSCODED_PIECE = 64 * 1024

# Distinct timestamp texts whose reading is kept: about two years of quarter hours (~18 MB).
TIMESTAMPS_KEPT = 65_536
# The feed's own timestamp form, tested once per record: a bound method saves the lookups.
_canonical = CANONICAL_TIMESTAMP.fullmatch
# A key not looked at yet (None already means "not an OBIS code").
_UNSEEN = object()


class ParsedReading(NamedTuple):  # a tuple: cheap to build a million times
    record: int  # index of the record in its document
    muid: uuid.UUID
    obis: str
    timestamp: datetime  # UTC
    value: Decimal
    quality: str
    measurement: str
    # The timestamp as text a database reads as the same instant (UTC, ISO 8601).
    timestamp_text: str


# Builds a ParsedReading from a tuple in C, without NamedTuple's Python-level __new__: the
# validator makes one per reading.
_new_reading = tuple.__new__


@dataclass(frozen=True, slots=True)
class Rejection:
    record: int
    reason: str


def parse_readings(
    stream: IO[bytes], *, expected_muid: uuid.UUID | None = None, first_record: int = 0
) -> Iterator[ParsedReading | Rejection]:
    """Yield the readings of a document, and a Rejection for each record that is not valid.

    Records are numbered from `first_record` (a source of several responses numbers them
    across all). Raises DocumentError when the document itself cannot be read.
    """
    return validate(iter_records(stream, first_record=first_record), expected_muid=expected_muid)


def validate(
    records: Iterable[tuple[int, Any]], *, expected_muid: uuid.UUID | None = None
) -> Iterator[ParsedReading | Rejection]:
    """The readings of numbered records, and a Rejection for each record that is not valid:
    the one validation every parse goes through (see also meters/ingest/fast.py)."""
    readings_of = Validator(expected_muid).readings_of
    for index, record in records:
        try:
            yield from readings_of(index, record)
        except Invalid as invalid:
            yield Rejection(index, str(invalid))


def iter_records(stream: IO[bytes], *, first_record: int = 0) -> Iterator[tuple[int, Any]]:
    """Yield (index, record) for each item of the document's `data` list, built by ijson's C
    code; the stream is checked on its way in (StreamGuard) for what would hurt ijson."""
    guarded = StreamGuard(utf8(stream))
    index = first_record
    try:
        for record in ijson.items(guarded, "data.item", use_float=False):
            yield index, record
            index += 1
    except ijson.JSONError as error:
        # yajl says "premature EOF" when the document stops between tokens; a document cut
        # inside a token reads as a lexical error, reported as invalid JSON.
        kind = "truncated JSON" if "premature EOF" in str(error) else "invalid JSON"
        raise DocumentError(f"{kind}: {one_line(error)}") from error
    if index == first_record:
        _explain_empty(guarded)


def _explain_empty(guarded: "StreamGuard") -> None:
    """Tell `{"data": []}` (fine: nothing to load) from a document without a `data` list."""
    if not (guarded.complete and len(guarded.head) < HEAD_BYTES):
        raise DocumentError("the document has no records under 'data'")
    document = json.loads(bytes(guarded.head))  # small, and no deeper than MAX_DEPTH
    if not isinstance(document, dict) or "data" not in document:
        raise DocumentError("the document has no 'data' key")
    if not isinstance(document["data"], list):
        raise DocumentError("'data' is not a list")


def utf8(stream: IO[bytes]) -> IO[bytes]:
    """The document of `stream` as UTF-8, whatever encoding JSON allows it came in: a UTF-8
    byte-order mark dropped; UTF-16 or UTF-32, told by its mark or, without one, by the zero
    bytes of its first two characters (ASCII in JSON; RFC 4627's rule), transcoded as it is
    read, so memory stays bounded."""
    head = b""
    while len(head) < 4:
        piece = stream.read(4 - len(head))
        if not piece:
            break
        head += piece
    encoding = _encoding(head)
    if encoding == "utf-8":
        if head.startswith(codecs.BOM_UTF8):
            head = head[len(codecs.BOM_UTF8) :]
        return _Prefixed(head, stream)
    return _Transcoded(head, stream, encoding)


def _encoding(head: bytes) -> str:
    for mark, encoding in BYTE_ORDER_MARKS:
        if head.startswith(mark):
            return encoding
    if len(head) < 4 or all(head[:4]):
        return "utf-8"
    if not head[0]:
        return "utf-16-be" if head[1] else "utf-32-be"
    if not head[1]:
        return "utf-16-le" if head[2] or head[3] else "utf-32-le"
    return "utf-8"  # a zero further on: not JSON, which the parse says


class _Prefixed:
    """The bytes already read of a stream, then the rest of it."""

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        self._head = head
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if not self._head:
            return self._stream.read(size)
        if size < 0:
            piece, self._head = self._head + self._stream.read(), b""
        else:
            piece, self._head = self._head[:size], self._head[size:]
        return piece


class _Transcoded:
    """A stream in another encoding, read as UTF-8 (never more than `size` bytes a read)."""

    def __init__(self, head: bytes, stream: IO[bytes], encoding: str) -> None:
        self._stream: IO[bytes] | None = stream
        self._encoding = encoding
        self._decoder = codecs.getincrementaldecoder(encoding)()
        self._out = bytearray()
        self._decode(head, final=False)

    def read(self, size: int = -1) -> bytes:
        while self._stream is not None and (size < 0 or len(self._out) < size):
            piece = self._stream.read(TRANSCODED_PIECE)
            self._decode(piece, final=not piece)
            if not piece:
                self._stream = None
        size = len(self._out) if size < 0 else size
        piece = bytes(self._out[:size])
        del self._out[:size]
        return piece

    def _decode(self, piece: bytes, *, final: bool) -> None:
        try:
            self._out += self._decoder.decode(piece, final).encode()
        except UnicodeError as error:
            name = self._encoding[:6].upper()  # UTF-16 or UTF-32, without the byte order
            raise DocumentError(f"not valid {name}: {one_line(error)}") from None


class StreamGuard:
    """The document stream on its way to ijson, refusing what would hurt it: nesting deeper
    than MAX_DEPTH (ijson's memory grows with the square of the depth) and a run of more than
    MAX_DIGITS digits (ijson crashes on a number Python will not convert). Keeps the head of
    the document to explain an empty result.

    The depth is counted on the structural bytes alone: escapes dropped, then strings, so a
    bracket inside a string does not count; a string cut by the end of a chunk is carried.
    """

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._digits = b""  # the run of digits that ended the previous chunk, marked
        self._escape = b""  # a backslash that ended the previous chunk
        self._in_string = b""  # '"' while a string runs on past the previous chunk
        self._depth = 0
        self.head = bytearray()
        self.complete = False

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        self.check(chunk)
        return chunk

    def check(self, chunk: bytes) -> None:
        """Raise DocumentError if `chunk`, the next piece of the document (empty at its end),
        holds what would hurt ijson."""
        if not chunk:
            self.complete = True
            return
        if len(self.head) < HEAD_BYTES:
            self.head += chunk[: HEAD_BYTES - len(self.head)]
        self._check_digits(chunk)
        self._check_depth(chunk)

    def _check_digits(self, chunk: bytes) -> None:
        # Digits as "d", the rest as " ": a long run is then a plain substring search.
        marks = self._digits + chunk.translate(_DIGIT_MARKS)
        if _LONG_RUN in marks:
            raise DocumentError(f"a number of more than {MAX_DIGITS} digits")
        self._digits = marks[len(marks.rstrip(b"d")) :][-MAX_DIGITS:]

    def _check_depth(self, chunk: bytes) -> None:
        data = self._escape + chunk
        self._escape = b""
        if b"\\" in data:
            data = _ESCAPES.sub(b"", data)
            if data.endswith(b"\\"):  # escapes the first byte of the next chunk
                data, self._escape = data[:-1], b"\\"
        structure = self._in_string + data.translate(None, _NOT_STRUCTURE)
        # Strings without brackets are left as `""` pairs: removed in C, but for the opening
        # quote of one that runs on past the chunk, last. Any other quote left over belongs to a
        # string that holds a bracket: then the regex pairs them.
        fewer = structure.replace(b'""', b"")
        quote = fewer.find(b'"')
        structure = fewer if quote in (-1, len(fewer) - 1) else _STRINGS.sub(b"", structure)
        quote = structure.find(b'"')
        self._in_string = b'"' if quote >= 0 else b""
        if quote >= 0:
            structure = structure[:quote]
        # Empty pairs removed pass by pass (records collapse in two or three): a pass takes
        # at most two levels (`{}`, then `[]` of `[{}]`), so the passes and what is left bound
        # the deepest point, in C; only a bound past MAX_DEPTH is checked exactly.
        pairs, passes = structure, 0
        while passes <= MAX_DEPTH:
            fewer = pairs.replace(b"{}", b"").replace(b"[]", b"")
            if len(fewer) == len(pairs):
                break
            pairs, passes = fewer, passes + 1
        if self._depth + 2 * passes + pairs.count(b"[") + pairs.count(b"{") > MAX_DEPTH:
            deepest = max(accumulate(map(_STEP.__getitem__, structure), initial=self._depth))
            if deepest > MAX_DEPTH:
                raise DocumentError(f"nested deeper than {MAX_DEPTH} levels")
        self._depth += (
            structure.count(b"[")
            + structure.count(b"{")
            - structure.count(b"]")
            - structure.count(b"}")
        )


class Invalid(Exception):
    """Why a record is rejected."""


class Validator:
    """Validates records into readings. A feed repeats the same few keys, muids and labels in
    every record, so each distinct one is checked once and remembered."""

    def __init__(self, expected_muid: uuid.UUID | None) -> None:
        self._expected_muid = expected_muid
        self._muids: dict[str, uuid.UUID] = {}
        self._labels: set[str] = set()
        self._obis_keys: dict[str, str | None] = {}  # key -> OBIS code, None if it is not one

    def readings_of(self, index: int, record: Any) -> list[ParsedReading]:
        """The readings of one record, or Invalid. Runs once per record: the caches are
        looked up inline, the checks behind them run once per distinct value."""
        if type(record) is not dict:
            raise Invalid("record is not an object")
        timestamp, text = _timestamp(record.get("timestamp"))
        tags = record.get("tags")
        if type(tags) is not dict:
            raise Invalid("missing 'tags'")
        raw_muid = tags.get("muid")
        muid = self._muids.get(raw_muid) if type(raw_muid) is str else None
        if muid is None:
            muid = self._muid(raw_muid)
        labels = self._labels
        quality = tags.get("quality", DEFAULT_QUALITY)
        if type(quality) is not str or quality not in labels:
            self._label("tags.quality", quality)
        measurement = record.get("measurement")
        if type(measurement) is not str or measurement not in labels:
            self._label("measurement", measurement)

        readings = []
        obis_keys = self._obis_keys
        for key, raw in record.items():
            code = obis_keys.get(key, _UNSEEN)
            if code is _UNSEEN:
                code = self._obis_code(key)
            if code is not None and raw is not None:
                if readings and code in [reading.obis for reading in readings]:
                    raise Invalid(f"OBIS code {code} appears twice in the record")
                value = _value(key, raw)
                readings.append(
                    _new_reading(
                        ParsedReading,
                        (index, muid, code, timestamp, value, quality, measurement, text),
                    )
                )
        if not readings:
            raise Invalid("no reading: no OBIS-code key with a value")
        return readings

    def _muid(self, raw: Any) -> uuid.UUID:
        muid = self._muids.get(raw) if type(raw) is str else None
        if muid is None:
            muid = _muid(raw)
            if self._expected_muid is not None and muid != self._expected_muid:
                raise Invalid(f"muid {muid} is not the requested unit {self._expected_muid}")
            self._muids[raw] = muid
        return muid

    def _label(self, name: str, raw: Any) -> None:
        """Checks a label not seen yet (a list or an object cannot be looked up in the set of
        labels seen: readings_of tests the type first)."""
        if raw is None:
            raise Invalid(f"missing '{name}'")
        if type(raw) is not str or not LABEL_PATTERN.match(raw):
            raise Invalid(f"{name} {_shown(raw)} is not a short word")
        self._labels.add(raw)

    def _obis_code(self, key: str) -> str | None:
        """The hex key of an OBIS code written as hex or readable (`1-0:1.8.0`), as the API's
        parameters take it; None for any other key."""
        try:
            code = obis.obis_hex(key)
        except ValueError:
            code = None
        self._obis_keys[key] = code
        return code


def _shown(raw: Any) -> str:
    """A value as a rejection shows it: its repr, cut short."""
    text = repr(raw)
    return text if len(text) <= 60 else text[:57] + "..."


def _timestamp(raw: Any) -> tuple[datetime, str]:
    """The instant in UTC, and its text for the database."""
    if raw is None:
        raise Invalid("missing 'timestamp'")
    if type(raw) is not str:
        raise Invalid(f"timestamp {_shown(raw)} is not a string")
    return _instant(raw)


# A fleet's documents repeat the same quarter hours (every unit reports 12:15, and a unit each
# of its quarter hours once per channel): each distinct text is read once, a bounded number
# kept (docs/BENCHMARKS.md measures it).
@lru_cache(maxsize=TIMESTAMPS_KEPT)
def _instant(raw: str) -> tuple[datetime, str]:
    """The instant of a timestamp's text in UTC, and its text for the database."""
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise Invalid(f"timestamp {_shown(raw)} is not ISO 8601") from None
    if parsed.tzinfo is None:
        raise Invalid(f"timestamp {_shown(raw)} has no time zone")
    try:
        moment = parsed if parsed.tzinfo is UTC else parsed.astimezone(UTC)
    except OverflowError:
        moment = None
    if moment is None or not EARLIEST <= moment < LATEST:
        raise Invalid(
            f"timestamp {_shown(raw)} lies outside [{format_utc(EARLIEST)}, {format_utc(LATEST)})"
        )
    if _canonical(raw):
        return moment, raw
    return moment, moment.isoformat()


def _muid(raw: Any) -> uuid.UUID:
    if raw is None:
        raise Invalid("missing 'tags.muid'")
    if type(raw) is not str:
        raise Invalid(f"muid {_shown(raw)} is not a UUID")
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise Invalid(f"muid {_shown(raw)} is not a UUID") from None


def _value(key: str, raw: Any) -> Decimal:
    # ijson reads a JSON number with a fraction or exponent as a Decimal (exactly as written),
    # one without as an int.
    kind = type(raw)
    if kind is Decimal:
        value = raw
    elif kind is int:  # not bool: `true` is no energy value
        value = Decimal(raw)
    else:
        raise Invalid(f"value of {key} is not a number: {_shown(raw)}")
    if not value.is_finite():
        raise Invalid(f"value of {key} is not a finite number: {_shown(raw)}")
    if abs(value) >= VALUE_LIMIT:
        raise Invalid(f"value of {key} is out of range: {_shown(raw)}")
    return value.quantize(VALUE_QUANTUM)
