"""Documents built to hurt the ingest: each fails its own source (or record) with one line,
within bounded memory, and the other sources of the run still load, through the parse's
accelerator and through the reference stream parse alike (`parse_path`). docs/RELIABILITY.md
lists the outcomes."""

import io
import json
import os
import subprocess
import sys
import tempfile
import uuid
import zlib
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meters.ingest import ingest_location
from meters.ingest.errors import DocumentError
from meters.ingest.parse import MAX_DEPTH, MAX_DIGITS, StreamGuard
from meters.models import Reading
from tests.conftest import CONSUMER
from tests.factories import feed_document, feed_series
from tests.meters.ingest.conftest import PROJECT, WAIT, CommandDatabase

START = datetime(2023, 3, 1, tzinfo=UTC)
DEPTH = 100_000
RECORD_HEAD = b'{"data": [{"timestamp": "2023-03-01T00:00:00Z", "measurement": "energy", "tags": '
NESTED = {
    "at the top": b"[" * DEPTH + b"]" * DEPTH,
    "under data": b'{"data": ' + b"[" * DEPTH + b"]" * DEPTH + b"}",
    "inside a record's tags": RECORD_HEAD + b"[" * DEPTH + b"]" * DEPTH + b"}]}",
}
# What the ingest may take, whatever the document (the bound docs/RELIABILITY.md states).
MEMORY_BOUND_MB = 300
# Runs the command given as arguments, then writes its peak RSS (KiB) as stderr's last line.
PEAK_RSS_OF_CHILD = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
    "sys.exit(code)"
)


def inflating(size: int, tail: bytes) -> bytes:
    """gzip of `{"data": [`, `size` spaces, then `tail`: a thousandth of that on the wire,
    compressed piece by piece so that the test itself never holds the whole."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: the gzip container
    spaces = b" " * 1_000_000
    pieces = [compressor.compress(b'{"data": [')]
    pieces += [compressor.compress(spaces) for _ in range(size // len(spaces))]
    return b"".join([*pieces, compressor.compress(tail), compressor.flush()])


def write(tmp_path, name: str, body: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(body)
    return str(path)


@pytest.mark.parametrize("where", list(NESTED))
def test_deep_nesting_fails_the_source_in_one_line(parse_path, where, tmp_path, db):
    report = ingest_location(write(tmp_path, "deep.json", NESTED[where]))

    assert report.error == f"nested deeper than {MAX_DEPTH} levels"


def test_a_number_of_thousands_of_digits_fails_the_source_in_one_line(parse_path, tmp_path, db):
    records = feed_series(CONSUMER.muid, START, 3)
    body = feed_document(records).replace(b"0.01", b"7" * 5000, 1)

    report = ingest_location(write(tmp_path, "digits.json", body))

    assert report.error == f"a number of more than {MAX_DIGITS} digits"


def test_a_long_number_split_across_reads_is_still_caught(parse_path, tmp_path, db):
    # Past the parser's first read (64 kB), straddling the boundary of two reads.
    padding = b" " * (65_536 - 60)
    body = b'{"data": [' + padding + b"1" * 200 + b"]}"

    report = ingest_location(write(tmp_path, "split.json", body))

    assert report.error == f"a number of more than {MAX_DIGITS} digits"


def test_a_key_repeated_in_a_record_takes_its_last_value_as_json_parsers_do(
    parse_path, tmp_path, db
):
    body = feed_document(feed_series(CONSUMER.muid, START, 3))
    # The second record gets a `tags` for another unit, before its own.
    first_tags = body.index(b'"tags"', body.index(b"}, {") + 1)
    repeated = body[:first_tags] + b'"tags": {"muid": "x"}, ' + body[first_tags:]

    report = ingest_location(write(tmp_path, "repeated.json", repeated))

    assert (report.inserted, report.rejected) == (3, 0)
    assert set(Reading.objects.values_list("channel__unit__muid", flat=True)) == {CONSUMER.muid}


def test_hostile_documents_end_in_one_line_each_with_bounded_memory_and_the_rest_loads(
    tmp_path, command_database: CommandDatabase, httpserver
):
    """The real command in its own process, so that its peak memory can be read."""
    hostile = {
        **{f"deep {where}": body for where, body in NESTED.items()},
        "digits": b'{"data": [' + b"9" * 5000 + b"]}",
    }
    paths = [write(tmp_path, f"h{n}.json", body) for n, body in enumerate(hostile.values())]
    # A response whose body inflates to twice the memory bound (Content-Encoding: gzip) and
    # holds one good record at its end: read as a stream, it loads.
    record = feed_series(uuid.uuid4(), START, 1)[0]
    inflated = inflating(2 * MEMORY_BOUND_MB * 1_000_000, json.dumps(record).encode() + b"]}")
    httpserver.expect_request("/inflating.json").respond_with_data(
        inflated, content_type="application/json", headers={"Content-Encoding": "gzip"}
    )
    url = httpserver.url_for("/inflating.json")
    good = str(CONSUMER.path)
    environment = {**os.environ, "DATABASE_URL": command_database.url}

    # Started by a small Python process that reports its child's peak RSS: measured from the
    # test process, a child's figure would include the memory of the (large) test run it was
    # forked from.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        done = subprocess.run(  # noqa: S603 - the project's own command
            [
                sys.executable,
                "-c",
                PEAK_RSS_OF_CHILD,
                sys.executable,
                "manage.py",
                "ingest_meters",
                *paths,
                url,
                good,
            ],
            cwd=PROJECT,
            env=environment,
            stdout=out,
            stderr=err,
            timeout=WAIT,
        )
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    *stderr_lines, peak = stderr.strip().splitlines()

    assert int(peak) / 1024 < MEMORY_BOUND_MB  # KiB on Linux
    assert done.returncode == 1
    assert stderr_lines == [
        *(f"{path}: FAILED: nested deeper than {MAX_DEPTH} levels" for path in paths[:3]),
        f"{paths[3]}: FAILED: a number of more than {MAX_DIGITS} digits",
        "CommandError: 4 of 6 source(s) failed",
    ]
    inflated_line, good_line = stdout.splitlines()
    assert inflated_line.startswith(f"{url}: unit={record['tags']['muid']} ")
    assert "inserted=1 " in inflated_line
    assert good_line.startswith(f"{good}: unit={CONSUMER.muid}")
    assert command_database.readings() == CONSUMER.readings + 1


def _depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


# Strings full of what the guard must not count: brackets, quotes, backslashes.
TRICKY = st.text(alphabet='[]{}"\\ a', max_size=6)
NESTED_VALUES = st.recursive(
    st.one_of(TRICKY, st.integers()),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(TRICKY, inner, max_size=3)
    ),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(NESTED_VALUES, st.integers(0, 16), st.integers(1, 64))
def test_the_depth_is_counted_on_structure_alone_wherever_the_reads_cut(value, wraps, read_size):
    for _ in range(wraps):
        value = [value]
    body = json.dumps({"data": [value]}).encode()
    guard = StreamGuard(io.BytesIO(body))

    def read_all() -> None:
        while guard.read(read_size):
            pass

    if _depth(value) + 2 > MAX_DEPTH:
        with pytest.raises(DocumentError):
            read_all()
    else:
        read_all()
