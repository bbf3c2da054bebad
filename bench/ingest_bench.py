"""The ingest benchmark: `ingest_meters` end to end over HTTP against PostgreSQL's own COPY.

In one run, on a fresh database: (1) the first ingest of a feed of UNITS x DAYS (1,000,000
readings by default) served over HTTP on loopback, with the peak memory of the ingest process;
(2) re-ingest of the same feed; (3) a feed with 1% of values changed; (4) the limit: psql's
`\\copy` of the same rows from CSV into a table identical to meters_reading (same indexes);
(5) a naive ORM loop saving one reading at a time, on a sample.

    python -m bench.ingest_bench --units 20 --days 521 --naive 20000
"""

import argparse
import tempfile
from pathlib import Path

from bench.common import (
    Stopwatch,
    copy_limit,
    drop_database,
    load_average,
    migrate,
    psql,
    recreate_database,
    run_and_print,
    run_ingest,
    setup_django,
)
from bench.feeds import serve, unit_muid, write_csv, write_feed


def naive_orm(database: str, count: int) -> dict:
    """Reading.objects.create() per reading, autocommit: what a first implementation does."""
    setup_django(database)
    from bench.feeds import readings
    from meters.models import Channel, Reading, Unit

    sample = list(readings(units=1, days=-(-count // 96)))[:count]
    unit, _ = Unit.objects.get_or_create(muid=unit_muid(10_000_000))
    channel, _ = Channel.objects.get_or_create(unit=unit, obis=sample[0][1])
    load = load_average()
    with Stopwatch() as watch:
        for _, _, text, value in sample:
            Reading.objects.create(
                channel=channel,
                timestamp=text,
                value=round(value, 6),
                quality="measured",
                measurement="energy",
            )
    return {
        "readings": count,
        "seconds": round(watch.seconds, 2),
        "readings_per_s": round(count / watch.seconds),
        "load": load,
    }


def run(*, units: int, days: int, naive: int, database: str, keep: bool = False) -> dict:
    recreate_database(database)
    migrate(database)
    results: dict = {"units": units, "days": days}
    with tempfile.TemporaryDirectory(prefix="exnaton-bench-") as tmp:
        folder = Path(tmp)
        with Stopwatch() as watch:
            written = write_feed(folder / "feed.json", units=units, days=days)
            write_feed(folder / "feed-changed.json", units=units, days=days, changed=0.01)
        results["feed"] = {
            "readings": written,
            "megabytes": round((folder / "feed.json").stat().st_size / 1e6, 1),
            "generated_s": round(watch.seconds, 1),
        }
        with serve(folder) as base:
            results["first"] = run_ingest(database, [f"{base}/feed.json"])
            results["unchanged"] = run_ingest(database, [f"{base}/feed.json"])
            results["changed_1pct"] = run_ingest(database, [f"{base}/feed-changed.json"])
        ids = psql(
            database,
            "SELECT u.muid || '=' || c.id FROM meters_channel c JOIN meters_unit u "
            "ON u.id = c.unit_id",
            capture=True,
        )
        channel_ids = {}
        for line in ids.splitlines():
            muid, channel_id = line.split("=")
            channel_ids[__import__("uuid").UUID(muid)] = int(channel_id)
        write_csv(folder / "feed.csv", units=units, days=days, channel_ids=channel_ids)
        results["copy"] = copy_limit(database, folder / "feed.csv")
    results["naive_orm"] = naive_orm(database, naive) if naive else None
    first, copy = results["first"], results["copy"]
    results["ratio_to_copy"] = round(first["seconds"] / copy["seconds"], 2)
    if results["naive_orm"]:
        results["speedup_over_naive"] = round(
            first["readings_per_s"] / results["naive_orm"]["readings_per_s"], 1
        )
    if not keep:
        if naive:  # Django was set up for the ORM loop: let go of its connection first
            from django.db import connections

            connections.close_all()
        drop_database(database)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=20)
    parser.add_argument("--days", type=int, default=521)
    parser.add_argument("--naive", type=int, default=20_000, help="readings of the ORM loop")
    parser.add_argument("--database", default="exnaton_bench_ingest")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    run_and_print(run, args)


if __name__ == "__main__":
    main()
