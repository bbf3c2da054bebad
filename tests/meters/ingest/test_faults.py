"""Faults during ingest beyond bad bodies (those are in test_bad_input.py): garbage by the
megabyte, the database going away, two runs at once, SIGTERM. Each ends with nothing of the
failed source stored, no duplicate reading, a one-line reason, a non-zero exit, and a later run
that completes the data. docs/RELIABILITY.md lists the outcomes.

The process-level faults run the real `manage.py ingest_meters` in a subprocess against a
loopback source that pauses mid-body, so the fault lands while a load is under way.
"""

import os
import random
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from meters.ingest import ingest_unit
from meters.models import Reading, Unit
from tests.conftest import CONSUMER
from tests.factories import feed_document, feed_series
from tests.meters.ingest.conftest import (
    WAIT,
    CommandDatabase,
    PausingSource,
    wait_for_ingest_backend,
)

# What the command prints, alone, when SIGTERM stops it.
STOPPED_BY_SIGTERM = (
    "CommandError: stopped by SIGTERM: the sources not yet reported were rolled back, nothing "
    "of them is stored; run again to load them"
)

PROJECT = Path(django_settings.BASE_DIR)
PATH = f"/challenge/{CONSUMER.muid}.json"
GARBAGE_BYTES = 10 * 2**20


# --- Garbage by the megabyte (in process) -----------------------------------------------------


def serve(source, body: bytes) -> None:
    source.clear()
    source.expect_request(PATH).respond_with_data(body, content_type="application/json")


def test_ten_megabytes_of_garbage_fail_the_source_with_one_line_then_a_later_run_loads(source, db):
    serve(source, random.Random(7).randbytes(GARBAGE_BYTES))

    failed = ingest_unit(CONSUMER.muid)
    serve(source, CONSUMER.body)
    later = ingest_unit(CONSUMER.muid)

    assert failed.error.startswith("invalid JSON")
    assert "\n" not in failed.error
    assert later.ok
    assert later.inserted == Reading.objects.count() == CONSUMER.readings


def test_garbage_after_valid_records_stores_none_of_them(source, db):
    # More than one segment (read.SEGMENT_READINGS): some reach the database before the garbage.
    records = feed_document(feed_series(CONSUMER.muid, datetime(2023, 3, 1, tzinfo=UTC), 3_000))
    serve(source, records[: records.rindex(b"}") - 1] + b"x" * GARBAGE_BYTES)

    failed = ingest_unit(CONSUMER.muid)

    assert failed.error.startswith("invalid JSON")
    assert not Unit.objects.exists()
    assert not Reading.objects.exists()


# --- A real ingest_meters process against a source that pauses mid-body ---------------------


def command_environment(database: CommandDatabase, source_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database.url,
        "METERS_SOURCE_BASE_URL": source_url,
        "METERS_SOURCE_PATH": "/challenge/{muid}.json",
        "METERS_HTTP_RETRIES": "0",
        "METERS_HTTP_READ_TIMEOUT": str(WAIT),
        "DJANGO_LOG_FORMAT": "plain",
    }


def start_ingest(environment: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(  # noqa: S603 - the project's own command
        [sys.executable, "manage.py", "ingest_meters", "--muid", str(CONSUMER.muid)],
        cwd=PROJECT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen) -> tuple[int, str, str]:
    stdout, stderr = process.communicate(timeout=WAIT)
    return process.returncode, stdout, stderr


def ingest_again(database: CommandDatabase) -> tuple[int, str, str]:
    """A later, undisturbed run."""
    with PausingSource() as source:
        source.resume.set()
        return finish(start_ingest(command_environment(database, source.url)))


def test_sigterm_mid_load_rolls_back_says_so_in_one_line_and_a_later_run_loads(command_database):
    with PausingSource() as source:
        process = start_ingest(command_environment(command_database, source.url))
        assert source.half_sent.wait(WAIT)
        process.send_signal(signal.SIGTERM)
        code, _, stderr = finish(process)

    assert code == 128 + signal.SIGTERM
    assert stderr.strip().splitlines() == [STOPPED_BY_SIGTERM]
    assert (command_database.units(), command_database.readings()) == (0, 0)
    later, stdout, stderr = ingest_again(command_database)
    assert later == 0, stderr
    assert f"inserted={CONSUMER.readings}" in stdout
    assert command_database.readings() == CONSUMER.readings


def test_sigterm_mid_reingest_keeps_what_was_stored(command_database):
    first, _, stderr = ingest_again(command_database)
    assert first == 0, stderr
    with PausingSource() as source:
        process = start_ingest(command_environment(command_database, source.url))
        assert source.half_sent.wait(WAIT)
        process.send_signal(signal.SIGTERM)
        code, _, stderr = finish(process)

    assert code == 128 + signal.SIGTERM
    assert stderr.strip().splitlines() == [STOPPED_BY_SIGTERM]
    assert command_database.readings() == command_database.distinct_readings()
    assert command_database.readings() == CONSUMER.readings


def test_the_database_going_away_mid_load_fails_the_source_in_one_line(command_database):
    if connection.vendor != "postgresql":
        pytest.skip("pg_terminate_backend is PostgreSQL's; SQLite is a file, not a server")
    with PausingSource() as source:
        process = start_ingest(command_environment(command_database, source.url))
        assert source.half_sent.wait(WAIT)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [wait_for_ingest_backend()])
        source.resume.set()
        code, _, stderr = finish(process)

    assert code == 1
    # No traceback: the server's reason when it reached the driver before the socket closed,
    # libpq's otherwise.
    lines = stderr.strip().splitlines()
    assert len(lines) == 2, stderr
    failure, last = lines
    reasons = (
        "terminating connection due to administrator command",
        "server closed the connection unexpectedly ",
    )
    prefix = f"{source.url}{PATH}: FAILED: database error: "
    assert any(failure.startswith(prefix + reason) for reason in reasons), stderr
    assert last == "CommandError: 1 of 1 source(s) failed"
    assert (command_database.units(), command_database.readings()) == (0, 0)
    later, _stdout, stderr = ingest_again(command_database)
    assert later == 0, stderr
    assert command_database.readings() == CONSUMER.readings


def test_two_runs_of_the_same_unit_at_once_store_each_reading_once(command_database):
    with PausingSource(together=2) as source:
        environment = command_environment(command_database, source.url)
        processes = [start_ingest(environment) for _ in range(2)]
        assert source.half_sent.wait(WAIT)
        source.resume.set()
        results = [finish(process) for process in processes]

    codes = sorted(code for code, _, _ in results)
    if connection.vendor == "postgresql":
        # The second waits for the first's lock on the unit, then finds every reading stored.
        assert codes == [0, 0], results
    else:
        # SQLite has one writer: the run that cannot get the write lock fails, in one line.
        assert codes in ([0, 0], [0, 1]), results
        for code, _, stderr in results:
            if code:
                assert "FAILED: database error: database is locked" in stderr
    assert command_database.readings() == command_database.distinct_readings() == CONSUMER.readings
    assert command_database.units() == 1
    later, _stdout, stderr = ingest_again(command_database)
    assert later == 0, stderr
    assert command_database.readings() == CONSUMER.readings
