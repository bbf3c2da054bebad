"""Many sources in one run (meters/ingest/pipeline.py): read at once, written in batches, each
source all or nothing, reported in the order given."""

import io
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from meters.ingest import DocumentSource, ingest
from meters.models import Reading, Unit
from tests.factories import feed_document, feed_series

pytestmark = pytest.mark.django_db
START = datetime(2023, 3, 1, tzinfo=UTC)
REFUSED = 999  # a value the database is made to refuse (see refusing_database)


class FleetServer:
    """Serves `/<name>.json` documents over loopback HTTP, each after its own delay, and
    records how many requests were in flight at most."""

    def __init__(self, documents: dict[str, bytes], delays: dict[str, float] | None = None):
        self.documents = documents
        self.delays = delays or {}
        self.in_flight = self.most_in_flight = 0
        lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.path.split("?")[0].strip("/").removesuffix(".json")
                with lock:
                    server.in_flight += 1
                    server.most_in_flight = max(server.most_in_flight, server.in_flight)
                time.sleep(server.delays.get(name, 0))
                with lock:
                    server.in_flight -= 1
                body = server.documents[name]
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format, *args):
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.http.server_address[1]}"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"{self.base}/{name}.json"

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def fleet() -> Iterator:
    servers: list[FleetServer] = []

    def start(documents: dict[str, bytes], delays: dict[str, float] | None = None):
        servers.append(FleetServer(documents, delays))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def unit_documents(count: int, readings: int = 96) -> dict[str, bytes]:
    return {
        f"unit{n}": feed_document(feed_series(uuid.uuid4(), START, readings)) for n in range(count)
    }


@pytest.fixture
def refusing_database(db):
    """The readings table refuses a value of REFUSED, as a constraint would."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION test_refuse() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.value = {REFUSED} THEN RAISE EXCEPTION 'refused by the test'; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                "CREATE TRIGGER test_refuse BEFORE INSERT ON meters_reading "
                "FOR EACH ROW EXECUTE FUNCTION test_refuse()"
            )
        else:
            cursor.execute(
                "CREATE TRIGGER test_refuse BEFORE INSERT ON meters_reading "
                f"WHEN NEW.value = {REFUSED} BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )


def test_sources_are_read_at_once_up_to_the_concurrency(fleet):
    documents = unit_documents(8)
    server = fleet(documents, dict.fromkeys(documents, 0.3))

    reports = ingest([DocumentSource(server.url(name)) for name in documents], concurrency=4)

    assert server.most_in_flight == 4
    assert all(report.ok for report in reports)
    assert Reading.objects.count() == 8 * 96


def test_reports_come_in_the_order_given_whatever_finishes_first(fleet):
    documents = unit_documents(5)
    # The first source answers last.
    server = fleet(documents, {name: 0.1 * (5 - n) for n, name in enumerate(documents)})
    sources = [DocumentSource(server.url(name)) for name in documents]
    shown = []

    reports = ingest(sources, concurrency=5, on_report=shown.append)

    assert [report.source for report in reports] == [source.location for source in sources]
    assert shown == reports


def test_an_invalid_source_and_one_the_database_refuses_leave_the_rest_committed(
    fleet, refusing_database
):
    muid = uuid.uuid4()
    refused = feed_series(muid, START, 96)
    refused[40]["0100011D00FF"] = REFUSED
    documents = {
        "first": unit_documents(1)["unit0"],
        "truncated": unit_documents(1)["unit0"][:-100],
        "refused": feed_document(refused),
        "last": unit_documents(1)["unit0"],
    }
    server = fleet(documents)

    reports = ingest([DocumentSource(server.url(name)) for name in documents])

    first, truncated, refused_report, last = reports
    assert first.ok
    assert last.ok
    assert truncated.error.startswith("truncated JSON")
    assert refused_report.error.startswith("database error: refused by the test")
    assert Reading.objects.count() == 2 * 96
    assert not Unit.objects.filter(muid=muid).exists()


def test_two_documents_of_one_unit_in_one_run_are_written_in_their_order(fleet):
    muid = uuid.uuid4()
    older = feed_series(muid, START, 96, value=0.5)
    newer = feed_series(muid, START, 96, value=0.5)
    newer[0]["0100011D00FF"] = 0.75
    # The older one answers last, after a batch would be due (FLUSH_WAIT): the newer one,
    # read first, must wait for it.
    server = fleet({"older": feed_document(older), "newer": feed_document(newer)}, {"older": 1.0})

    first, second = ingest([DocumentSource(server.url(n)) for n in ("older", "newer")])

    assert (first.inserted, second.updated, second.unchanged) == (96, 1, 95)
    latest = Reading.objects.filter(channel__unit__muid=muid).latest("timestamp")
    assert latest.value == Decimal("0.75")


def test_a_failing_source_among_many_makes_the_command_exit_non_zero_the_rest_load(fleet):
    documents = unit_documents(6)
    documents["unit3"] = b'{"data": [oops'
    server = fleet(documents)
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError, match="1 of 6 source"):
        call_command("ingest_meters", *(server.url(n) for n in documents), stdout=out, stderr=err)

    assert err.getvalue().startswith(f"{server.url('unit3')}: FAILED: invalid JSON")
    assert len(out.getvalue().splitlines()) == 5
    assert Reading.objects.count() == 5 * 96


def test_concurrency_is_refused_unless_a_positive_number():
    with pytest.raises(CommandError, match="'0' is not a positive whole number"):
        call_command("ingest_meters", "--concurrency", "0")
