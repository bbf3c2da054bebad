import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from werkzeug import Request, Response

from meters.ingest import ingest_unit
from meters.ingest.load import APPLICATION_NAME
from meters.models import Reading, Unit
from tests.conftest import CONSUMER

# Bounds on waiting for a subprocess or the source, not assertions about speed.
WAIT = 60
PROJECT = Path(django_settings.BASE_DIR)


@pytest.fixture(params=["fast", "reference"])
def parse_path(request, monkeypatch) -> str:
    """Run the test with documents read by the parse's accelerator (meters/ingest/fast.py), and
    again with every document read by the reference stream parse (none is small enough for
    the accelerator): both must give the same outcome."""
    if request.param == "reference":
        monkeypatch.setattr("meters.ingest.fast.FAST_BYTES", 0)
    return request.param


@pytest.fixture
def stored(challenge_source, db):
    """The consumer unit already stored, and a way to see that nothing of it changed."""
    report = ingest_unit(CONSUMER.muid)
    assert report.ok, report.error
    challenge_source.clear()
    snapshot = list(Reading.objects.order_by("pk").values_list("channel_id", "timestamp", "value"))

    def unchanged() -> bool:
        rows = Reading.objects.order_by("pk").values_list("channel_id", "timestamp", "value")
        return list(rows) == snapshot

    return unchanged


@pytest.fixture
def cut_connection_server() -> Iterator[str]:
    """A loopback HTTP server that promises a body and closes the connection half-way."""
    body = b'{"data": [' + b'{"timestamp": "2023-02-01T00:00:00Z"}, ' * 50
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body) * 4}\r\n\r\n".encode()
    )
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                conn.sendall(head + body)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    listener.close()


class PausingSource:
    """Serves the consumer's recorded response over loopback HTTP in two halves.

    After the first half it reports `half_sent` and waits for `resume`; with `together=2`, it
    also waits until two requests have sent their first halves (two loads under way at once).
    """

    def __init__(self, *, together: int = 1) -> None:
        self.half_sent = threading.Event()
        self.resume = threading.Event()
        self.barrier = threading.Barrier(together, timeout=WAIT)
        source = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = CONSUMER.body
                half = len(body) // 2
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body[:half])
                    self.wfile.flush()
                    source.barrier.wait()
                    source.half_sent.set()
                    source.resume.wait(WAIT)
                    self.wfile.write(body[half:])
                except (OSError, threading.BrokenBarrierError):
                    pass  # the client went away: that is the fault under test

            def log_message(self, format, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "PausingSource":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.resume.set()
        self.server.shutdown()
        self.server.server_close()


def wait_for_ingest_backend() -> int:
    """The pid of the PostgreSQL backend of a running ingest (its connection names itself, see
    meters.ingest.load.APPLICATION_NAME); the test fails if none appears within WAIT seconds."""
    for _ in range(WAIT * 10):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND application_name = %s",
                [APPLICATION_NAME],
            )
            row = cursor.fetchone()
        if row:
            return row[0]
        time.sleep(0.1)
    pytest.fail(f"no ingest connected within {WAIT} s")


class QueryApi:
    """Answers like the platform's measurement API: the records in [start, stop), newest
    first, at most `limit` of them."""

    def __init__(self, records: list[dict]) -> None:
        self.records = records
        self.windows: list[tuple[str, str, int]] = []

    def __call__(self, request: Request) -> Response:
        start, stop = request.args["start"], request.args["stop"]
        limit = int(request.args["limit"])
        self.windows.append((start, stop, limit))
        lo, hi = (datetime.fromisoformat(t) for t in (start, stop))
        inside = [r for r in self.records if lo <= datetime.fromisoformat(r["timestamp"]) < hi]
        inside.sort(key=lambda r: r["timestamp"], reverse=True)
        return Response(json.dumps({"data": inside[:limit]}), content_type="application/json")


@dataclass
class CommandDatabase:
    """The database a subprocess writes to, and counts read from it after commit."""

    url: str
    sqlite_path: Path | None = None

    def scalar(self, sql: str) -> int:
        if self.sqlite_path:
            with sqlite3.connect(self.sqlite_path) as db:
                return db.execute(sql).fetchone()[0]
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchone()[0]

    def readings(self) -> int:
        return self.scalar(f"SELECT COUNT(*) FROM {Reading._meta.db_table}")

    def distinct_readings(self) -> int:
        return self.scalar(
            "SELECT COUNT(*) FROM (SELECT DISTINCT channel_id, timestamp "
            f"FROM {Reading._meta.db_table}) d"
        )

    def units(self) -> int:
        return self.scalar(f"SELECT COUNT(*) FROM {Unit._meta.db_table}")


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.sqlite3"
    environment = {**os.environ, "DATABASE_URL": f"sqlite:///{path}"}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=PROJECT,
        env=environment,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return path


@pytest.fixture
def command_database(request, tmp_path, transactional_db) -> Iterator[CommandDatabase]:
    """PostgreSQL: the test database itself (committed writes are flushed after the test).
    SQLite: the test database lives in memory, so a migrated file of its own."""
    if connection.vendor == "postgresql":
        db = connection.settings_dict
        url = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        yield CommandDatabase(url)
        return
    path = tmp_path / "db.sqlite3"
    path.write_bytes(request.getfixturevalue("migrated_sqlite").read_bytes())
    yield CommandDatabase(f"sqlite:///{path}", sqlite_path=path)
