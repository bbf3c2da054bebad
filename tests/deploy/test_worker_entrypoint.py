"""The container's `worker` and `beat` commands (deploy/entrypoint.sh) with production settings,
on a database of their own and the local RabbitMQ: beat enqueues the due units, the worker
polls them and serves its counters, and both stop cleanly on SIGTERM."""

import signal
import subprocess
import time
import uuid

import psycopg2
import pytest

from bench.feeds import serve
from tests.conftest import CHALLENGE_UNITS
from tests.deploy.conftest import PROJECT, free_port, manage, production_environment, run
from tests.meters.queue.conftest import BROKER, broker_reachable, delete_queue, scrape

WAIT = 120


@pytest.fixture
def queue():
    broker_reachable()
    name = f"exnaton-test-{uuid.uuid4().hex[:12]}"
    yield name
    delete_queue(name)


def polled_units(database_url: str) -> int:
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM meters_unit WHERE last_success_at IS NOT NULL")
        return cursor.fetchone()[0]


def test_beat_and_a_worker_from_the_entrypoint_poll_the_registered_units(
    throwaway_database, queue, tmp_path
):
    port = free_port()
    with serve(PROJECT / "data") as feed:
        environment = production_environment(
            DATABASE_URL=throwaway_database,
            CELERY_BROKER_URL=BROKER,
            CELERY_QUEUE=queue,
            METERS_SOURCE_BASE_URL=feed,
            METERS_ENQUEUE_EVERY_SECONDS="1",
        )
        # The worker's own: its counters' directory, emptied by the entrypoint.
        worker_environment = {
            **environment,
            "WORKER_METRICS_PORT": str(port),
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        }
        migrated = run(["deploy/entrypoint.sh", "migrate"], environment)
        assert migrated.returncode == 0, migrated.stderr
        logs = {name: (tmp_path / f"{name}.log").open("w+") for name in ("worker", "beat")}
        processes = {
            name: subprocess.Popen(  # noqa: S603 - the project's own entrypoint
                [str(PROJECT / "deploy" / "entrypoint.sh"), name],
                cwd=PROJECT,
                env=worker_environment if name == "worker" else environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            for name, log in logs.items()
        }
        try:
            deadline = time.monotonic() + WAIT
            while polled_units(throwaway_database) < len(CHALLENGE_UNITS):
                assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
                time.sleep(0.5)
            counters = scrape(f"http://127.0.0.1:{port}/metrics")
        finally:
            for process in processes.values():
                process.send_signal(signal.SIGTERM)
            codes = {name: process.wait(WAIT) for name, process in processes.items()}

    inserted = sum(unit.readings for unit in CHALLENGE_UNITS)
    assert counters['exnaton_ingest_readings_total{outcome="inserted"}'] == inserted
    assert codes == {"worker": 0, "beat": 0}, (tmp_path / "worker.log").read_text()[-3000:]
    # Nothing queued twice: a second enqueue finds every unit polled and not due.
    again = manage("ingest_meters", "--enqueue", env=environment)
    assert again.stdout.strip() == "queued 0 unit(s)", again.stderr
