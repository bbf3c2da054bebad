"""The parse thread hands its lines on in order, passes its failure on, and stops when told."""

import threading
from collections.abc import Iterator

import pytest

from meters.ingest import producer
from meters.ingest.errors import DocumentError
from meters.ingest.producer import LineProducer


def drain(lines: LineProducer) -> list[tuple[str, int]]:
    chunks = []
    while chunk := lines.next_chunk():
        chunks.append(chunk)
    return chunks


def test_lines_arrive_in_order_in_chunks_with_their_count(monkeypatch):
    monkeypatch.setattr(producer, "CHUNK_LINES", 3)

    chunks = drain(LineProducer(f"{i}\n" for i in range(7)))

    assert chunks == [("0\n1\n2\n", 3), ("3\n4\n5\n", 3), ("6\n", 1)]


def test_a_failure_of_the_parse_is_raised_after_the_lines_before_it(monkeypatch):
    monkeypatch.setattr(producer, "CHUNK_LINES", 2)

    def lines() -> Iterator[str]:
        yield from ("a\n", "b\n")
        raise DocumentError("truncated JSON")

    lines = LineProducer(lines())

    assert lines.next_chunk() == ("a\nb\n", 2)
    with pytest.raises(DocumentError, match="truncated JSON"):
        lines.next_chunk()
    assert lines.next_chunk() is None


def test_stop_ends_a_thread_waiting_for_room_in_the_queue(monkeypatch):
    monkeypatch.setattr(producer, "CHUNK_LINES", 1)
    produced = threading.Event()

    def endless() -> Iterator[str]:
        while True:
            produced.set()
            yield "x\n"

    lines = LineProducer(endless())
    assert produced.wait(5)

    lines.stop()

    assert not lines._thread.is_alive()
