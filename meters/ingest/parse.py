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
# The feed's own timestamp form (2023-02-28T23:45:00.000Z). Once Python has accepted such a
# text, the database is handed the text itself: formatting a datetime back costs more than
# parsing it, and PostgreSQL reads this form as the same instant.
_UTC_TIMESTAMP = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?Z"
CANONICAL_TIMESTAMP = re.compile(_UTC_TIMESTAMP)
# The layout the endpoint writes, matched without a JSON parser (see _scan_canonical): the
# opening of the document, then one record with one or two OBIS readings and its comma. The
# group `utc` is set when the timestamp is in the feed's own form (a look-ahead, so the
# regex tells it in passing: a second regex call per record would cost more).
DOCUMENT_OPENING = re.compile(rb'\{"data":\[')
_NUMBER = rb"null|-?(?:0|[1-9][0-9]{0,8})(?:\.[0-9]{1,30})?(?:[eE][-+]?[0-9]{1,3})?"
CANONICAL_RECORD = re.compile(
    rb'\{"measurement":"(?P<measurement>[A-Za-z0-9_.-]{1,32})",'
    rb'"timestamp":"(?:(?=(?P<utc>' + _UTC_TIMESTAMP.encode() + rb')")|)'
    rb'(?P<timestamp>[0-9T:.Z+-]{10,35})",'
    rb'"tags":\{"muid":"(?P<muid>[0-9a-fA-F-]{36})","quality":"(?P<quality>[A-Za-z0-9_.-]{1,32})"\},'
    rb'"(?P<key>[0-9A-Fa-f]{12})":(?P<value>' + _NUMBER + rb")"
    rb'(?:,"(?P<key2>[0-9A-Fa-f]{12})":(?P<value2>' + _NUMBER + rb"))?"
    rb"\}(?P<comma>,?)"
)
# Bytes read ahead by the scan; a canonical record is far shorter than half of it.
SCAN_BYTES = 64 * 1024
# What is left of a JSON number in plain decimal notation once these are stripped: nothing.
PLAIN_NUMBER_BYTES = b"-0123456789."


class ParsedReading(NamedTuple):  # a tuple: cheap to build a million times
    record: int  # index of the record in its document
    muid: uuid.UUID
    obis: str
    timestamp: datetime  # UTC
    value: Decimal
    quality: str
    measurement: str
    # The timestamp as text a database reads as the same instant (UTC, ISO 8601).
    timestamp_text: str = ""


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


class _Replay:
    """A file that first returns `pending` bytes, then the rest of `stream`."""

    def __init__(self, pending: bytes, stream: _HeadRecorder) -> None:
        self._pending = pending
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if size == 0:  # ijson probes the type of the stream with read(0)
            return b""
        if self._pending:
            chunk, self._pending = self._pending, b""
            return chunk
        return self._stream.read(size)


def _scan_canonical(recorder: _HeadRecorder) -> Iterator[re.Match[bytes] | _Replay]:
    """Match the records of a document in the feed's own layout with one regex each.

    The endpoint writes `{"data":[` and then records of one fixed shape, so the common case
    needs no JSON parser at all. Yields a match per such record; at the first byte that is not
    one (another key order, whitespace, the end of the list, an error), yields a _Replay: a
    document equivalent to what is left, `{"data":[` plus the unread bytes, for ijson to finish
    with its full syntax checks and messages. After a comma the replay opens with `null,` so
    that a trailing comma stays an error; that null is dropped by the caller.
    """
    buffer, position, at_end = b"", 0, False
    while not at_end and len(buffer) < SCAN_BYTES:
        chunk = recorder.read(SCAN_BYTES)
        buffer += chunk
        at_end = not chunk
    opening = DOCUMENT_OPENING.match(buffer)
    if opening is None:
        yield _Replay(buffer, recorder)
        return
    position, after_comma = opening.end(), False
    match = CANONICAL_RECORD.match
    while True:
        if not at_end and len(buffer) - position < SCAN_BYTES // 2:
            chunk = recorder.read(SCAN_BYTES)
            buffer, position, at_end = buffer[position:] + chunk, 0, not chunk
        found = match(buffer, position)
        if found is None:
            prefix = b'{"data":[null,' if after_comma else b'{"data":['
            yield _Replay(prefix + buffer[position:], recorder)
            return
        yield found
        position = found.end()
        after_comma = found.group("comma") == b","


def iter_records(stream: IO[bytes]) -> Iterator[tuple[int, Any]]:
    """Yield (index, record) for each item of the document's `data` list.

    A record is a dict, or a regex match of the feed's canonical layout (see _scan_canonical).
    """
    recorder = _HeadRecorder(stream)
    empty = True
    index = 0
    try:
        for item in _scan_canonical(recorder):
            if type(item) is not _Replay:
                empty = False
                yield index, item
                index += 1
                continue
            records = ijson.items(item, "data.item")
            if item._pending.startswith(b'{"data":[null,'):
                next(records)  # the null standing in for the records already read
            for record in records:
                empty = False
                yield index, record
                index += 1
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
    canonical = validator.reading_of_match
    for index, record in iter_records(stream):
        try:
            if type(record) is re.Match:
                # The common case, one reading per record: no list, no `yield from`.
                reading = canonical(index, record)
                if reading is not None:
                    yield reading
                    continue
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
        # Bytes of canonical records -> their muid or text (see _readings_of_match).
        self._texts: dict[bytes, Any] = {}

    def readings_of(self, index: int, record: Any) -> list[ParsedReading]:
        if type(record) is re.Match:
            return self._readings_of_match(index, record)
        if not isinstance(record, dict):
            raise _Invalid("record is not an object")
        timestamp = _timestamp(record.get("timestamp"))
        tags = record.get("tags")
        if not isinstance(tags, dict):
            raise _Invalid("missing 'tags'")
        muid = self._muid(tags.get("muid"))
        quality = self._label("tags.quality", tags.get("quality", DEFAULT_QUALITY))
        measurement = self._label("measurement", record.get("measurement"))

        text = record["timestamp"]
        if not CANONICAL_TIMESTAMP.fullmatch(text):
            text = timestamp.isoformat()
        obis_keys = self._obis_keys
        readings = []
        for key, raw in record.items():
            code = obis_keys[key] if key in obis_keys else self._obis_code(key)
            if code is not None and raw is not None:
                value = _value(key, raw)
                readings.append(
                    ParsedReading(index, muid, code, timestamp, value, quality, measurement, text)
                )
        if not readings:
            raise _Invalid("no reading: no OBIS-code key with a value")
        return readings

    def reading_of_match(self, index: int, match: re.Match[bytes]) -> ParsedReading | None:
        """The one reading of a record in the canonical layout with one OBIS key and a number
        in plain decimal notation; None for any other canonical record (see readings_of).

        The same checks, in the same order, as for a parsed record; the regex has already
        settled the types and the labels. The hot path of the ingest: the few distinct muids,
        labels and keys are decoded once, the rest is inlined.
        """
        measurement, utc, raw_timestamp, raw_muid, quality, key, raw, key2, _, _ = match.groups()
        # Not a plain decimal number (null, an exponent): one strip tells, cheaper than searches.
        if key2 is not None or raw.lstrip(PLAIN_NUMBER_BYTES):
            return None
        text = raw_timestamp.decode()
        if utc is not None:
            try:
                timestamp = _from_iso(text)  # ends in Z: already UTC
            except ValueError:
                raise _Invalid(f"timestamp {text!r} is not ISO 8601") from None
        else:
            timestamp = _timestamp(text)
            text = timestamp.isoformat()
        texts = self._texts
        muid = texts.get(raw_muid)
        if muid is None:
            muid = texts[raw_muid] = self._muid(raw_muid.decode())
        quality = texts.get(quality) or texts.setdefault(quality, quality.decode())
        measurement = texts.get(measurement) or texts.setdefault(measurement, measurement.decode())
        code = texts.get(key)
        if code is None:
            code = texts[key] = self._obis_code(key.decode()) or ""
        if not code:
            raise _Invalid("no reading: no OBIS-code key with a value")
        # At most 9 integer digits (the regex), so only the rounding to the stored scale is left.
        value = Decimal(raw.decode() if b"." in raw else int(raw)).quantize(VALUE_QUANTUM)
        return ParsedReading(index, muid, code, timestamp, value, quality, measurement, text)

    def _readings_of_match(self, index: int, match: re.Match[bytes]) -> list[ParsedReading]:
        """The readings of any record in the canonical layout (see reading_of_match)."""
        measurement, utc, raw_timestamp, raw_muid, quality, key, raw, key2, raw2, _ = match.groups()
        text = raw_timestamp.decode()
        timestamp = _timestamp(text)
        if utc is None:
            text = timestamp.isoformat()
        muid = self._muid(raw_muid.decode())
        if key2 is not None:
            if key2 != key:
                return self._two_readings(index, match, muid, timestamp, text)
            raw = raw2  # a repeated key: the last value wins, as in a parsed object
        name = key.decode()
        code = self._obis_code(name)
        if code is None or raw == b"null":
            raise _Invalid("no reading: no OBIS-code key with a value")
        value = _value(name, _json_number(raw))
        quality, measurement = quality.decode(), measurement.decode()
        return [ParsedReading(index, muid, code, timestamp, value, quality, measurement, text)]

    def _two_readings(
        self, index: int, match: re.Match[bytes], muid: uuid.UUID, timestamp: datetime, text: str
    ) -> list[ParsedReading]:
        quality, measurement = match["quality"].decode(), match["measurement"].decode()
        readings = []
        for name, raw in ((match["key"], match["value"]), (match["key2"], match["value2"])):
            code = self._obis_code(name.decode())
            if code is not None and raw != b"null":
                value = _value(name.decode(), _json_number(raw))
                readings.append(
                    ParsedReading(index, muid, code, timestamp, value, quality, measurement, text)
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


_from_iso = datetime.fromisoformat


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


def _json_number(text: bytes) -> int | Decimal:
    """A JSON number as ijson reads it: an int, or a Decimal when it has a fraction or exponent."""
    if b"." in text or b"e" in text or b"E" in text:
        return Decimal(text.decode())
    return int(text)


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
    # ijson reads every JSON number with a fraction as a Decimal (exactly as written): the usual
    # case skips the type checks below.
    if type(raw) is Decimal:
        value = raw
    # bool is an int in Python but `true` is no energy value.
    elif isinstance(raw, bool) or not isinstance(raw, int | float | Decimal):
        raise _Invalid(f"value of {key} is not a number: {raw!r}")
    else:
        value = Decimal(raw)
    if not value.is_finite():
        raise _Invalid(f"value of {key} is not a finite number: {raw!r}")
    if abs(value) >= VALUE_LIMIT:
        raise _Invalid(f"value of {key} is out of range: {raw!r}")
    return value.quantize(VALUE_QUANTUM)
