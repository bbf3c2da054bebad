"""Run the parse on a thread of its own, so that the loading thread can wait on the database.

The parse is Python and holds the interpreter's lock; waiting on PostgreSQL does not. While the
loading thread has the database compare what was just loaded with the stored readings, this
thread goes on parsing the rest of the document (see load.StagingLoader.stage).
"""

import queue
import threading
from collections.abc import Iterator
from itertools import islice

# Lines joined into one chunk: large, so that the loading thread needs the interpreter's lock
# rarely (a waiting thread gets it within 5 ms, sys.getswitchinterval()).
CHUNK_LINES = 5_000
# Chunks parsed ahead of the loading thread (about 0.5 MB each).
QUEUE_CHUNKS = 16
# How often a blocked thread looks whether the other one gave up, in seconds.
POLL = 0.1


class LineProducer:
    """Pulls `lines` on a daemon thread and hands them on in chunks, in order.

    `next_chunk` gives (text, number of lines), None once the lines are exhausted, and raises
    whatever pulling them raised. `stop` ends the thread early (the consumer failed).
    """

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self._chunks: queue.Queue = queue.Queue(maxsize=QUEUE_CHUNKS)
        self._stopped = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._run, name="ingest-parse", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while chunk := list(islice(self._lines, CHUNK_LINES)):
                if not self._put(("".join(chunk), len(chunk))):
                    return
            item = None
        except BaseException as error:  # handed to the consumer, which raises it
            item = error
        self._put(item)

    def _put(self, item) -> bool:
        while not self._stopped.is_set():
            try:
                self._chunks.put(item, timeout=POLL)
                return True
            except queue.Full:
                continue
        return False

    def next_chunk(self) -> tuple[str, int] | None:
        if self._done:
            return None
        item = self._chunks.get()
        if item is None or isinstance(item, BaseException):
            self._done = True
            self._thread.join()
        if isinstance(item, BaseException):
            raise item
        return item

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=POLL * 10)
