"""`python manage.py ingest_meters`: arguments, the summary it prints, and its exit status."""

import io
import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command

from meters.models import Reading
from tests.conftest import CHALLENGE_DIR, CHALLENGE_UNITS, CONSUMER, PRODUCER

pytestmark = pytest.mark.django_db


def ingest(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("ingest_meters", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_without_arguments_it_polls_the_registered_units_that_are_due(challenge_source):
    call_command("register_units", stdout=io.StringIO())

    out, err = ingest()

    lines = [line for line in out.splitlines() if not line.startswith(" ")]
    assert len(lines) == 2
    assert out.count("  note: the source ignores the time window: read as one document") == 2
    by_muid = sorted(CHALLENGE_UNITS, key=lambda unit: str(unit.muid))
    for unit, line in zip(by_muid, lines, strict=True):
        assert f"/challenge/{unit.muid}.json: unit={unit.muid} obis={unit.obis}" in line
        assert "received=2688 inserted=2688 updated=0 unchanged=0 rejected=0" in line
        assert "first=2023-02-01T00:00:00Z last=2023-02-28T23:45:00Z" in line
        assert "seconds=" in line
        assert "readings/s=" in line
    assert err == ""
    assert Reading.objects.count() == 2 * 2688


def test_muid_selects_one_unit(challenge_source):
    out, _ = ingest("--muid", str(PRODUCER.muid))

    assert f"unit={PRODUCER.muid}" in out
    assert str(CONSUMER.muid) not in out


def test_it_reads_a_local_file(db):
    out, _ = ingest(str(CONSUMER.path))

    assert out.startswith(f"{CONSUMER.path}: unit={CONSUMER.muid}")
    assert "inserted=2688" in out


def test_a_directory_gives_each_of_its_json_documents_in_name_order(tmp_path, db):
    for unit in CHALLENGE_UNITS:
        (tmp_path / unit.path.name).write_bytes(unit.path.read_bytes())
    (tmp_path / "notes.txt").write_text("not a document")

    out, _ = ingest(str(tmp_path))

    names = sorted(unit.path.name for unit in CHALLENGE_UNITS)
    assert [line.split(":")[0] for line in out.splitlines()] == [
        str(tmp_path / name) for name in names
    ]
    assert Reading.objects.count() == 2 * 2688


def test_a_directory_without_documents_is_refused(tmp_path, db):
    with pytest.raises(CommandError, match=r"a directory without \*\.json documents"):
        ingest(str(tmp_path))
    assert not Reading.objects.exists()


def test_it_reads_a_url_as_given(challenge_source):
    url = challenge_source.url_for(f"/challenge/{PRODUCER.muid}.json")

    out, _ = ingest(url)

    assert out.startswith(f"{url}: unit={PRODUCER.muid}")
    request, _ = challenge_source.log[0]
    assert request.args == {}


def test_an_unreachable_endpoint_falls_back_to_the_shipped_copy_and_says_so(settings, db):
    settings.METERS_SOURCE_BASE_URL = "http://127.0.0.1:9"
    settings.METERS_HTTP_RETRIES = 0

    out, _ = ingest(
        *(f"--muid={unit.muid}" for unit in CHALLENGE_UNITS), "--fallback-dir", str(CHALLENGE_DIR)
    )

    assert out.count("note: shipped copy, used because the source is unreachable") == 2
    assert f"{CHALLENGE_DIR / f'{CONSUMER.muid}.json'}: unit={CONSUMER.muid}" in out
    assert Reading.objects.count() == 2 * 2688


def test_a_failing_source_makes_the_command_fail_but_the_others_load(challenge_source):
    with pytest.raises(CommandError, match="1 of 2 source"):
        ingest(str(CONSUMER.path), "/nonexistent/feed.json")

    assert Reading.objects.count() == 2688


def test_rejected_records_are_listed(tmp_path, db):
    document = CONSUMER.body.replace(b'"2023-02-28T23:45:00.000Z"', b'"someday"', 1)
    path = tmp_path / "feed.json"
    path.write_bytes(document)

    out, _ = ingest(str(path))

    assert "received=2688 inserted=2687 updated=0 unchanged=0 rejected=1" in out
    assert "  rejected record 0: timestamp 'someday' is not ISO 8601" in out


def test_a_document_whose_every_record_is_rejected_makes_the_command_fail(tmp_path, db):
    path = tmp_path / "feed.json"
    path.write_bytes(b'{"data": [{"timestamp": "someday"}, {"timestamp": "never"}]}')

    err = io.StringIO()

    with pytest.raises(CommandError, match="1 of 1 source"):
        call_command("ingest_meters", str(path), stdout=io.StringIO(), stderr=err)

    assert err.getvalue() == (
        f"{path}: FAILED: all 2 record(s) rejected, the first: record 0: "
        "timestamp 'someday' is not ISO 8601\n"
    )
    assert not Reading.objects.exists()


def test_start_and_full_exclude_each_other(db):
    with pytest.raises(CommandError, match="--full and --start exclude each other"):
        ingest("--full", "--start", "2023-02-01")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--muid", "not-a-uuid"], "'not-a-uuid' is not a UUID"),
        (["--start", "2023-02-01T00:00"], "has no UTC offset"),
        (["--stop", "tomorrow"], "'tomorrow' is not an ISO 8601 date or date-time"),
    ],
)
def test_bad_arguments_are_refused_with_the_reason(db, args, message):
    with pytest.raises(CommandError, match=message):
        ingest(*args)


def test_quiet_mode_prints_nothing_on_success(db):
    out, err = ingest("-v", "0", str(CONSUMER.path))

    assert (out, err) == ("", "")


def test_from_a_shell_a_failure_is_one_line_and_a_non_zero_exit(tmp_path):
    env = os.environ | {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
        "DJANGO_DEBUG": "1",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "ingest_meters", "/nonexistent/feed.json"],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "/nonexistent/feed.json: FAILED: cannot read /nonexistent/feed.json: "
        "No such file or directory",
        "CommandError: 1 of 1 source(s) failed",
    ]
    assert "Traceback" not in result.stderr
