import socket
import threading
from collections.abc import Iterator

import pytest

from meters.ingest import ingest_unit
from meters.models import Reading
from tests.conftest import CONSUMER


@pytest.fixture
def stored(challenge_source, db):
    """The consumer unit already stored, and a way to see that nothing of it changed."""
    report = ingest_unit(CONSUMER.muid)
    assert report.ok, report.error
    challenge_source.clear()
    snapshot = list(Reading.objects.order_by("id").values_list("id", "timestamp", "value"))

    def unchanged() -> bool:
        rows = Reading.objects.order_by("id").values_list("id", "timestamp", "value")
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
