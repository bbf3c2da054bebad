"""The fleet workload through the task queue: UNITS units x 96 readings, each response DELAY ms
late, polled by 1, 2 and 4 `celery worker` processes on the local RabbitMQ.

For each number of workers, on a fresh database: the units registered, the workers started
(each `--concurrency 1`: one task at a time, whose units' polls overlap inside it), then
`ingest_meters --enqueue` and the clock runs until every unit's poll is stored. Units per
second are taken over that span: enqueue, the queue, the polls, the writes. The same
workload polled in one process without a broker (`ingest_meters`) is measured beside it.
Needs RabbitMQ on 127.0.0.1:5672 (BENCH_BROKER_URL names another); the queue is the
benchmark's own and deleted afterwards.

    python -m bench.queue_bench --units 2000 --delay 50 --workers 1 2 4 --json /tmp/queue.json
"""

import argparse
import os
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from amqp.exceptions import NotFound
from kombu import Connection

from bench.common import (
    PYTHON,
    ROOT,
    Stopwatch,
    django_env,
    drop_database,
    load_average,
    migrate,
    psql,
    recreate_database,
    run_and_print,
    run_ingest,
)
from bench.feeds import serve, unit_muid, write_unit_documents

BROKER = os.environ.get("BENCH_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
# Bounds on waiting, not measurements.
WAIT = 1800
DONE = "SELECT count(*) FROM meters_unit WHERE last_success_at IS NOT NULL AND queued_at IS NULL"


def through_queue(
    database: str, environment: dict[str, str], *, units: int, workers: int, folder: Path
) -> dict:
    """One run: `workers` worker processes poll the registered units; returns units/s."""
    recreate_database(database)
    migrate(database)
    muids = [str(unit_muid(n)) for n in range(units)]
    subprocess.run(
        [PYTHON, "manage.py", "register_units", *muids],
        cwd=ROOT,
        env=django_env(database, **environment),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    processes = []
    for n in range(workers):
        log = folder / f"worker-{workers}-{n}.log"
        processes.append(
            subprocess.Popen(
                [
                    PYTHON,
                    "-m",
                    "celery",
                    "--app=exnaton",
                    "worker",
                    "--concurrency=1",
                    "--without-mingle",
                    "--without-gossip",
                    f"--hostname=bench{n}-{environment['CELERY_QUEUE']}@%h",
                    "--loglevel=WARNING",
                ],
                cwd=ROOT,
                env=django_env(database, **environment),
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    try:
        _wait_for_consumers(environment["CELERY_QUEUE"], workers)
        load = load_average()
        with Stopwatch() as watch:
            subprocess.run(
                [PYTHON, "manage.py", "ingest_meters", "--enqueue"],
                cwd=ROOT,
                env=django_env(database, **environment),
                check=True,
                stdout=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + WAIT
            while int(psql(database, DONE, capture=True)) < units:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{workers} worker(s) did not finish in {WAIT} s")
                time.sleep(0.2)
        readings = int(psql(database, "SELECT count(*) FROM meters_reading", capture=True))
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            process.wait(60)
    return {
        "workers": workers,
        "units": units,
        "readings": readings,
        "seconds": round(watch.seconds, 2),
        "units_per_s": round(units / watch.seconds, 1),
        "readings_per_s": round(readings / watch.seconds),
        "load": load,
    }


def _wait_for_consumers(queue: str, workers: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with Connection(BROKER, connect_timeout=5) as broker:
            try:
                _, _, consumers = broker.default_channel.queue_declare(queue, passive=True)
            except NotFound:  # until the first worker has declared it
                consumers = 0
        if consumers >= workers:
            return
        time.sleep(0.5)
    raise RuntimeError(f"{workers} worker(s) did not start consuming {queue}")


def in_process(database: str, environment: dict[str, str], *, units: int) -> dict:
    """The same polls by `ingest_meters` without a broker, for comparison."""
    recreate_database(database)
    migrate(database)
    subprocess.run(
        [PYTHON, "manage.py", "register_units", *(str(unit_muid(n)) for n in range(units))],
        cwd=ROOT,
        env=django_env(database, **environment),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    row = run_ingest(database, [], **{**environment, "CELERY_BROKER_URL": ""})
    row["units_per_s"] = round(row["sources"] / row["seconds"], 1)
    return row


def run(*, units: int, delay: float, workers: list[int], batch: int, database: str) -> dict:
    queue = f"exnaton-bench-{uuid.uuid4().hex[:8]}"
    results: dict = {
        "units": units,
        "readings_per_unit": 96,
        "delay_ms": round(delay * 1000),
        "batch": batch,
        "runs": [],
    }
    with tempfile.TemporaryDirectory(prefix="exnaton-queue-") as tmp:
        folder = Path(tmp)
        write_unit_documents(folder, units=units, days=1, layouts=("compact", "spaced"))
        with serve(folder, delay=delay) as base:
            environment = {
                "CELERY_BROKER_URL": BROKER,
                "CELERY_QUEUE": queue,
                "METERS_QUEUE_BATCH": str(batch),
                "METERS_SOURCE_BASE_URL": base,
                "METERS_SOURCE_PATH": "/{muid}.json",
                "METERS_HISTORY_START": "2023-01-01T00:00:00Z",
                # One request per poll (the whole history in one window), as in fleet_bench.
                "METERS_WINDOW_DAYS": "3650",
            }
            try:
                results["in_process"] = in_process(database, environment, units=units)
                for count in workers:
                    results["runs"].append(
                        through_queue(
                            database, environment, units=units, workers=count, folder=folder
                        )
                    )
            finally:
                with Connection(BROKER, connect_timeout=5) as broker:
                    broker.default_channel.queue_delete(queue)
                    broker.default_channel.exchange_delete(queue)
    drop_database(database)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=2000)
    parser.add_argument("--delay", type=float, default=50, help="ms each response is late")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--batch", type=int, default=100, help="units per task")
    parser.add_argument("--database", default="exnaton_bench_queue")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    run_and_print(run, args, delay=args.delay / 1000)


if __name__ == "__main__":
    main()
