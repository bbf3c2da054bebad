"""Stream-parse a meter-data document and validate each record into readings.

A document is `{"data": [record, ...]}`. A record carries a timestamp, `tags` (muid, quality),
a `measurement`, and one or more OBIS-code keys whose non-null values are readings of that
channel. The document is read as a stream of JSON events (ijson), one record built at a time,
so memory does not grow with the document and the layout (spaces, line breaks, key order)
changes nothing. Every rule a record must meet is in `Validator`; docs/RELIABILITY.md lists
what hostile documents get.
"""

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
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
_LONG_DIGITS = re.compile(rb"[0-9]{%d}" % (MAX_DIGITS + 1))
_DIGITS = b"0123456789"
_SCALARS = frozenset({"string", "number", "null", "boolean"})
# The feed's own timestamp form (2023-02-28T23:45:00.000Z): handed to the database as it came,
# PostgreSQL reads it as the same instant (formatting a datetime back costs more).
CANONICAL_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z"
)


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


@dataclass(frozen=True, slots=True)
class Rejection:
    record: int
    reason: str


class _RepeatedKey(NamedTuple):
    """Stands for a record in which a key appears twice: which value is meant is unknowable."""

    key: str


def parse_readings(
    stream: IO[bytes], *, expected_muid: uuid.UUID | None = None, first_record: int = 0
) -> Iterator[ParsedReading | Rejection]:
    """Yield the readings of a document, and a Rejection for each record that is not valid.

    Records are numbered from `first_record` (a source of several responses numbers them
    across all). Raises DocumentError when the document itself cannot be read.
    """
    validator = Validator(expected_muid)
    for index, record in iter_records(stream, first_record=first_record):
        try:
            yield from validator.readings_of(index, record)
        except Invalid as invalid:
            yield Rejection(index, str(invalid))


def iter_records(stream: IO[bytes], *, first_record: int = 0) -> Iterator[tuple[int, Any]]:
    """Yield (index, record) for each item of the document's `data` list.

    Builds each item from ijson's events (not `ijson.items`), so that the depth is checked
    before any structure is built and a repeated key is seen.
    """
    events = ijson.basic_parse(_DigitGuard(stream), use_float=False)
    depth = 0  # of the event just read: 1 inside the document object, 2 inside `data`
    in_data = seen_data = is_object = False
    stack: list[Any] = []  # the containers of the item being built, innermost last
    top: Any = None  # stack[-1], kept at hand: this loop runs for every event
    key: str | None = None
    repeated: str | None = None
    index = first_record
    try:
        for event, value in events:
            if event == "map_key":
                if top is not None and value in top:
                    repeated = repeated or value
                key = value
            elif event in _SCALARS:
                if top is not None:
                    if type(top) is dict:
                        top[key] = value
                    else:
                        top.append(value)
                elif in_data:  # a scalar item of `data`
                    yield index, value
                    index += 1
                elif depth == 1 and key == "data" and is_object:
                    raise DocumentError("'data' is not a list")
            elif event == "start_map" or event == "start_array":
                depth += 1
                if depth > MAX_DEPTH:
                    raise DocumentError(f"nested deeper than {MAX_DEPTH} levels")
                if depth == 1:
                    is_object = event == "start_map"
                elif depth == 2 and key == "data" and is_object and top is None:
                    if event != "start_array":
                        raise DocumentError("'data' is not a list")
                    in_data = seen_data = True
                elif in_data:
                    container: Any = {} if event == "start_map" else []
                    if top is not None:
                        if type(top) is dict:
                            top[key] = container
                        else:
                            top.append(container)
                    stack.append(container)
                    top = container
            else:  # end_map, end_array
                depth -= 1
                if top is not None:
                    item = stack.pop()
                    if stack:
                        top = stack[-1]
                    else:
                        top = None
                        yield index, (_RepeatedKey(repeated) if repeated else item)
                        index, repeated = index + 1, None
                elif in_data and depth == 1:
                    in_data = False
    except ijson.JSONError as error:
        # yajl says "premature EOF" when the document stops between tokens; a document cut
        # inside a token reads as a lexical error, reported as invalid JSON.
        kind = "truncated JSON" if "premature EOF" in str(error) else "invalid JSON"
        raise DocumentError(f"{kind}: {one_line(error)}") from error
    if not seen_data:
        raise DocumentError("the document has no 'data' key")


class _DigitGuard:
    """The document stream, refusing a run of more than MAX_DIGITS digits (see MAX_DIGITS)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._tail = b""  # the digits that ended the previous chunk

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        if _LONG_DIGITS.search(self._tail + chunk[: MAX_DIGITS + 1]) or _LONG_DIGITS.search(chunk):
            raise DocumentError(f"a number of more than {MAX_DIGITS} digits")
        trailing = len(chunk) - len(chunk.rstrip(_DIGITS))
        if trailing == len(chunk):
            self._tail = (self._tail + chunk)[-MAX_DIGITS:]
        else:
            self._tail = chunk[len(chunk) - trailing :]
        return chunk


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
            if type(record) is _RepeatedKey:
                raise Invalid(f"key {record.key!r} appears twice in the record")
            raise Invalid("record is not an object")
        timestamp, text = _timestamp(record.get("timestamp"))
        tags = record.get("tags")
        if type(tags) is not dict:
            raise Invalid("missing 'tags'")
        raw_muid = tags.get("muid")
        muid = self._muids.get(raw_muid) if type(raw_muid) is str else None
        if muid is None:
            muid = self._muid(raw_muid)
        quality = tags.get("quality", DEFAULT_QUALITY)
        if quality not in self._labels:
            self._label("tags.quality", quality)
        measurement = record.get("measurement")
        if measurement not in self._labels:
            self._label("measurement", measurement)

        readings = []
        obis_keys = self._obis_keys
        for key, raw in record.items():
            code = obis_keys[key] if key in obis_keys else self._obis_code(key)
            if code is not None and raw is not None:
                if readings and code in [reading.obis for reading in readings]:
                    raise Invalid(f"OBIS code {code} appears twice in the record")
                value = _value(key, raw)
                readings.append(
                    ParsedReading(index, muid, code, timestamp, value, quality, measurement, text)
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

    def _label(self, name: str, raw: Any) -> str:
        if raw not in self._labels:
            if raw is None:
                raise Invalid(f"missing '{name}'")
            if type(raw) is not str or not LABEL_PATTERN.match(raw):
                raise Invalid(f"{name} {_shown(raw)} is not a short word")
            self._labels.add(raw)
        return raw

    def _obis_code(self, key: str) -> str | None:
        code = key.upper()
        self._obis_keys[key] = code = code if obis.is_obis_hex(code) else None
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
    if CANONICAL_TIMESTAMP.fullmatch(raw):
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
