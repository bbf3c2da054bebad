"""Stream-parse a meter-data document and validate each record into readings.

A document is `{"data": [record, ...]}`. A record carries a timestamp, `tags` (muid, quality),
a `measurement`, and one or more OBIS-code keys whose non-null values are readings of that
channel. Records are read one at a time (ijson), so memory does not grow with the document.
"""

import json
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

# Quality and measurement are short words; the bound keeps them safe to pass to COPY as text.
LABEL_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
DEFAULT_QUALITY = "unknown"
VALUE_LIMIT = Decimal(10) ** (VALUE_MAX_DIGITS - VALUE_DECIMAL_PLACES)
# The head of a document kept to explain an empty result precisely.
HEAD_BYTES = 64 * 1024


class ParsedReading(NamedTuple):  # a tuple: cheap to build a million times
    record: int  # index of the record in its document
    muid: uuid.UUID
    obis: str
    timestamp: datetime  # UTC
    value: Decimal
    quality: str
    measurement: str


@dataclass(frozen=True, slots=True)
class Rejection:
    record: int
    reason: str


class _HeadRecorder:
    """A file wrapper that keeps the first HEAD_BYTES read through it."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.head = bytearray()
        self.complete = False

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        if not chunk:
            self.complete = True
        elif len(self.head) < HEAD_BYTES:
            self.head += chunk[: HEAD_BYTES - len(self.head)]
        return chunk


def iter_records(stream: IO[bytes]) -> Iterator[tuple[int, Any]]:
    """Yield (index, record) for each item of the document's `data` list."""
    recorder = _HeadRecorder(stream)
    empty = True
    try:
        for index, record in enumerate(ijson.items(recorder, "data.item")):
            empty = False
            yield index, record
    except ijson.JSONError as error:
        # yajl says "premature EOF" when the document stops between tokens; a document cut
        # inside a token reads as a lexical error, reported as invalid JSON.
        kind = "truncated JSON" if "premature EOF" in str(error) else "invalid JSON"
        raise DocumentError(f"{kind}: {one_line(error)}") from error
    if empty:
        _explain_empty(recorder)


def _explain_empty(recorder: _HeadRecorder) -> None:
    """Tell `{"data": []}` (fine: nothing to load) from a document without a `data` list."""
    if not (recorder.complete and len(recorder.head) < HEAD_BYTES):
        raise DocumentError("the document has no records under 'data'")
    document = json.loads(bytes(recorder.head))
    if not isinstance(document, dict) or "data" not in document:
        raise DocumentError("the document has no 'data' key")
    if not isinstance(document["data"], list):
        raise DocumentError("'data' is not a list")


def parse_readings(
    stream: IO[bytes], *, expected_muid: uuid.UUID | None = None
) -> Iterator[ParsedReading | Rejection]:
    """Yield the readings of a document, and a Rejection for each record that is not valid.

    Raises DocumentError when the document itself cannot be read.
    """
    validator = _Validator(expected_muid)
    for index, record in iter_records(stream):
        try:
            yield from validator.readings_of(index, record)
        except _Invalid as invalid:
            yield Rejection(index, str(invalid))


class _Invalid(Exception):
    pass


class _Validator:
    """Validates records. A feed repeats the same few keys, muids and labels in every record,
    so each distinct one is checked once and remembered: the cost per record stays small."""

    def __init__(self, expected_muid: uuid.UUID | None) -> None:
        self._expected_muid = expected_muid
        self._muids: dict[str, uuid.UUID] = {}
        self._labels: set[str] = set()
        self._obis_keys: dict[str, str | None] = {}  # key -> OBIS code, None if it is not one

    def readings_of(self, index: int, record: Any) -> list[ParsedReading]:
        if not isinstance(record, dict):
            raise _Invalid("record is not an object")
        timestamp = _timestamp(record.get("timestamp"))
        tags = record.get("tags")
        if not isinstance(tags, dict):
            raise _Invalid("missing 'tags'")
        muid = self._muid(tags.get("muid"))
        quality = self._label("tags.quality", tags.get("quality", DEFAULT_QUALITY))
        measurement = self._label("measurement", record.get("measurement"))

        readings = []
        for key, raw in record.items():
            code = self._obis_code(key)
            if code is not None and raw is not None:
                value = _value(key, raw)
                readings.append(
                    ParsedReading(index, muid, code, timestamp, value, quality, measurement)
                )
        if not readings:
            raise _Invalid("no reading: no OBIS-code key with a value")
        return readings

    def _muid(self, raw: Any) -> uuid.UUID:
        muid = self._muids.get(raw) if isinstance(raw, str) else None
        if muid is None:
            muid = _muid(raw)
            if self._expected_muid is not None and muid != self._expected_muid:
                raise _Invalid(f"muid {muid} is not the requested unit {self._expected_muid}")
            self._muids[raw] = muid
        return muid

    def _label(self, name: str, raw: Any) -> str:
        if raw not in self._labels:
            if raw is None:
                raise _Invalid(f"missing '{name}'")
            if not isinstance(raw, str) or not LABEL_PATTERN.match(raw):
                raise _Invalid(f"{name} {raw!r} is not a short word")
            self._labels.add(raw)
        return raw

    def _obis_code(self, key: str) -> str | None:
        if key not in self._obis_keys:
            code = key.upper()
            self._obis_keys[key] = code if obis.is_obis_hex(code) else None
        return self._obis_keys[key]


def _timestamp(raw: Any) -> datetime:
    if raw is None:
        raise _Invalid("missing 'timestamp'")
    if not isinstance(raw, str):
        raise _Invalid(f"timestamp {raw!r} is not a string")
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise _Invalid(f"timestamp {raw!r} is not ISO 8601") from None
    if parsed.tzinfo is None:
        raise _Invalid(f"timestamp {raw!r} has no time zone")
    return parsed if parsed.tzinfo is UTC else parsed.astimezone(UTC)


def _muid(raw: Any) -> uuid.UUID:
    if raw is None:
        raise _Invalid("missing 'tags.muid'")
    if not isinstance(raw, str):
        raise _Invalid(f"muid {raw!r} is not a UUID")
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise _Invalid(f"muid {raw!r} is not a UUID") from None


def _value(key: str, raw: Any) -> Decimal:
    # bool is an int in Python but `true` is no energy value.
    if isinstance(raw, bool) or not isinstance(raw, int | float | Decimal):
        raise _Invalid(f"value of {key} is not a number: {raw!r}")
    value = Decimal(raw)
    if not value.is_finite():
        raise _Invalid(f"value of {key} is not a finite number: {raw!r}")
    if abs(value) >= VALUE_LIMIT:
        raise _Invalid(f"value of {key} is out of range: {raw!r}")
    return value.quantize(VALUE_QUANTUM)
