"""Parse turns: at most N responses parsed at once, a freed slot going to the first source
waiting, so that documents are read to the end in the order they were given."""

import threading
import time

from meters.ingest.pipeline import _ParseTurns


def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_a_freed_slot_goes_to_the_first_source_waiting_not_the_first_to_ask():
    turns = _ParseTurns(1)
    order: list[int] = []
    turns.acquire(0)  # source 0 parses; the others arrive while it does, out of order

    def parse(source: int) -> None:
        with turns.of(source):
            order.append(source)

    threads = []
    for waiting, source in enumerate((5, 3, 4), start=1):
        thread = threading.Thread(target=parse, args=(source,))
        thread.start()
        threads.append(thread)
        wait_until(lambda waiting=waiting: len(turns._waiting) == waiting)
    turns.release()
    for thread in threads:
        thread.join(timeout=5)

    assert order == [3, 4, 5]


def test_no_more_sources_parse_at_once_than_there_are_slots():
    turns = _ParseTurns(2)
    inside, most = 0, 0
    lock = threading.Lock()

    def parse(source: int) -> None:
        nonlocal inside, most
        with turns.of(source):
            with lock:
                inside += 1
                most = max(most, inside)
            time.sleep(0.005)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=parse, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)

    assert most == 2
    assert turns._free == 2  # every slot given back
