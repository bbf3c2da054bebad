"""Real Celery workers on the local RabbitMQ, polling units served over loopback HTTP.

Each test gets a queue of its own on the broker (deleted afterwards), so that runs on one
machine never take each other's tasks. Workers are `celery worker` processes in sessions of
their own, on the test database (PostgreSQL: committed writes, flushed after the test), each
serving its counters on a port of its own. RabbitMQ missing is a failure, never a skip.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from kombu import Connection
from prometheus_client.parser import text_string_to_metric_families

from bench.feeds import readings as feed_readings
from bench.feeds import unit_muid
from exnaton.celery import app as celery_app
from meters.models import Unit
from tests.deploy.conftest import clean_environment, free_port

PROJECT = Path(django_settings.BASE_DIR)
BROKER = os.environ.get("TEST_CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
# Bounds on waiting for workers and polls, not assertions about speed.
WAIT = 120
READINGS_PER_UNIT = 96

# Workers and the test share its database, and a unit's lock is PostgreSQL's: the SQLite pass
# of the suite leaves these to the PostgreSQL one.
needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="workers share the test's database, which must be PostgreSQL (DATABASE_URL)",
)


def unit_document(index: int) -> bytes:
    """Synthetic unit `index`'s day of readings (bench/feeds.py), as the endpoint sends it."""
    records = [
        {
            "measurement": "energy",
            "timestamp": text,
            "tags": {"muid": str(muid), "quality": "measured"},
            obis: value,
        }
        for muid, obis, text, value in feed_readings(units=1, days=1, first_unit=index)
    ]
    return json.dumps({"data": records}).encode()


class FeedServer:
    """Serves `/<muid>.json` over loopback HTTP and counts the requests of each unit.

    A unit in `held` gets the first half of its first response, then the server waits for
    `release` (a poll caught in the middle); `half_sent` is set when that half is out.
    """

    def __init__(self, documents: dict[uuid.UUID, bytes]) -> None:
        self.documents = documents
        self.requests: Counter[uuid.UUID] = Counter()
        self.held: set[uuid.UUID] = set()
        self.half_sent = threading.Event()
        self.release = threading.Event()
        lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                muid = uuid.UUID(self.path.split("?")[0].strip("/").removesuffix(".json"))
                with lock:
                    server.requests[muid] += 1
                    hold = muid in server.held
                    server.held.discard(muid)
                body = server.documents[muid]
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    if hold:
                        self.wfile.write(body[: len(body) // 2])
                        self.wfile.flush()
                        server.half_sent.set()
                        server.release.wait(WAIT)
                        self.wfile.write(body[len(body) // 2 :])
                    else:
                        self.wfile.write(body)
                except OSError:
                    pass  # the worker went away: that is the fault under test

            def log_message(self, format, *args):
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.http.shutdown()
        self.http.server_close()


@dataclass
class Worker:
    """One `celery worker` process and its log."""

    name: str
    process: subprocess.Popen
    log: Path
    metrics_port: int

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + WAIT
        while " ready." not in self.output():
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"worker {self.name} did not start:\n{self.output()[-3000:]}")
            time.sleep(0.2)

    def signal(self, number: int) -> None:
        self.process.send_signal(number)

    def kill(self) -> None:
        """SIGKILL to the worker and its pool: the machine it ran on is gone."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(WAIT)

    def counters(self) -> dict[str, float]:
        """Its metrics, as `name{label="value"}` -> value."""
        return scrape(f"http://127.0.0.1:{self.metrics_port}/metrics")


def scrape(url: str, **headers: str) -> dict[str, float]:
    import requests

    response = requests.get(url, headers=headers, timeout=10)
    response.raise_for_status()
    return parse_metrics(response.text)


def parse_metrics(text: str) -> dict[str, float]:
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


@dataclass
class Fleet:
    """The queue, the feed server and the workers of one test."""

    queue: str
    feed: FeedServer
    tmp: Path
    database_url: str
    workers: list[Worker] = field(default_factory=list)
    extra: list[subprocess.Popen] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)

    def environment(self, **variables: str) -> dict[str, str]:
        return clean_environment(
            DATABASE_URL=self.database_url,
            DJANGO_SECRET_KEY="insecure-key-for-tests-only",
            DJANGO_LOG_FORMAT="plain",
            # Log lines reach the file as they are written (the image sets it too).
            PYTHONUNBUFFERED="1",
            CELERY_BROKER_URL=BROKER,
            CELERY_QUEUE=self.queue,
            METERS_SOURCE_BASE_URL=self.feed.base,
            METERS_SOURCE_PATH="/{muid}.json",
            METERS_HISTORY_START="2023-01-01T00:00:00Z",
            # One request per poll: the whole history in one window.
            METERS_WINDOW_DAYS="3650",
            METERS_HTTP_RETRIES="0",
            METERS_HTTP_CONNECT_TIMEOUT="2",
            METERS_HTTP_READ_TIMEOUT=str(WAIT),
            METERS_QUEUE_RETRY_SECONDS="1",
            **self.settings,
            **variables,
        )

    def start_worker(self, *, wait: bool = True) -> Worker:
        name = f"w{len(self.workers) + 1}"
        metrics_dir = self.tmp / f"{name}-metrics"
        metrics_dir.mkdir()
        port = free_port()
        log = self.tmp / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(  # noqa: S603 - the project's own worker
                [
                    *CELERY,
                    "worker",
                    "--concurrency=1",
                    "--without-mingle",
                    "--without-gossip",
                    f"--hostname={name}-{self.queue}@%h",
                    "--loglevel=INFO",
                ],
                cwd=PROJECT,
                env=self.environment(
                    WORKER_METRICS_PORT=str(port), PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)
                ),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = Worker(name, process, log, port)
        self.workers.append(worker)
        if wait:
            worker.wait_ready()
        return worker

    def enqueue_command(self, *muids: uuid.UUID) -> None:
        """`ingest_meters --enqueue --muid ...` in a process of its own, with the workers'
        settings: a task carries the time limit of the process that sent it."""
        done = subprocess.run(  # noqa: S603 - the project's own command
            [sys.executable, "manage.py", "ingest_meters", "--enqueue"]
            + [f"--muid={muid}" for muid in muids],
            cwd=PROJECT,
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=WAIT,
            check=False,
        )
        assert done.returncode == 0, done.stderr

    def start_beat(self) -> subprocess.Popen:
        log = (self.tmp / "beat.log").open("wb")
        process = subprocess.Popen(  # noqa: S603 - the project's own scheduler
            [*CELERY, "beat", f"--schedule={self.tmp / 'beat-schedule'}", "--loglevel=INFO"],
            cwd=PROJECT,
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.extra.append(process)
        return process

    def totals(self) -> dict[str, float]:
        """The workers' counters summed (a killed worker's are gone with it)."""
        total: dict[str, float] = {}
        for worker in self.workers:
            if worker.process.poll() is None:
                for name, value in worker.counters().items():
                    total[name] = total.get(name, 0) + value
        return total

    def queue_state(self) -> tuple[int, int]:
        """(messages ready, consumers) of the test's queue."""
        with Connection(BROKER, connect_timeout=5) as broker:
            _, messages, consumers = broker.default_channel.queue_declare(self.queue, passive=True)
        return messages, consumers

    def stop(self) -> None:
        for process in [*(w.process for w in self.workers), *self.extra]:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(WAIT)


CELERY = [sys.executable, "-m", "celery", "--app=exnaton"]


def wait_until(condition, what: str, *, fleet: Fleet | None = None) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            logs = (
                "\n".join(f"--- {w.name}\n{w.output()[-12000:]}" for w in fleet.workers)
                if fleet
                else ""
            )
            pytest.fail(f"timed out waiting for {what}\n{logs}")
        time.sleep(0.2)


def broker_reachable() -> None:
    """Fails the test, loudly, when RabbitMQ cannot be reached."""
    try:
        with Connection(BROKER, connect_timeout=5) as broker:
            broker.ensure_connection(max_retries=1)
    except Exception as error:  # any failure to connect: the test cannot run
        pytest.fail(
            f"RabbitMQ is not reachable at {BROKER} ({error}); these tests need it: start it "
            "with `rabbitmq-server -detached` (TEST_CELERY_BROKER_URL names another)"
        )


def delete_queue(name: str) -> None:
    """Remove a test's queue and the exchange Celery declared beside it."""
    with Connection(BROKER, connect_timeout=5) as broker:
        broker.default_channel.queue_delete(name)
        broker.default_channel.exchange_delete(name)


@pytest.fixture
def broker_queue(settings) -> Iterator[str]:
    """A queue of this test's own on the local RabbitMQ, deleted afterwards."""
    broker_reachable()
    queue = f"exnaton-test-{uuid.uuid4().hex[:12]}"
    settings.CELERY_BROKER_URL = BROKER
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    celery_app.conf.broker_url = BROKER
    yield queue
    delete_queue(queue)


@pytest.fixture
def fleet(broker_queue, transactional_db, tmp_path, settings) -> Iterator:
    """Starts a fleet: `fleet(units)` registers synthetic units 0..units-1, serves their
    documents and returns the Fleet (workers started by the test)."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    started: list[Fleet] = []

    def start(units: int, **worker_settings: str) -> Fleet:
        muids = [unit_muid(n) for n in range(units)]
        Unit.objects.bulk_create([Unit(muid=muid, poll_enabled=True) for muid in muids])
        feed = FeedServer({muid: unit_document(n) for n, muid in enumerate(muids)})
        settings.METERS_SOURCE_BASE_URL = feed.base
        one = Fleet(broker_queue, feed, tmp_path, url, settings=worker_settings)
        started.append(one)
        return one

    yield start
    for one in started:
        one.stop()
        one.feed.close()


def now() -> datetime:
    return datetime.now(UTC)
