"""The fleet ingest benchmark: many small polls and big documents, each next to psql's `\\copy`
of the same rows in the same run.

Each workload runs `manage.py ingest_meters` in its own process (wall time, peak RSS) on a fresh
database, the documents served over HTTP on loopback:
- fleet: UNITS units x 96 readings, each response delayed DELAY ms as a remote API is, half of
  the documents compact and half spaced; once with the URLs as SOURCE arguments, once as
  registered units (`register_units`, then `ingest_meters` with no argument);
- documents: BIG_UNITS units x BIG_DAYS days, one document per unit, in each layout (compact,
  spaced, pretty-printed), then the pretty ones again (re-ingest, nothing changed).
(bench/ingest_bench.py measures one document of a million readings.)
The limit: psql's `\\copy` of the same rows from CSV into an empty table identical to
meters_reading (`LIKE .. INCLUDING ALL`: the same indexes).

    python -m bench.fleet_bench --units 2000 --delay 50 --json /tmp/fleet.json
"""

import argparse
import subprocess
import tempfile
import uuid
from pathlib import Path

from bench.common import (
    PYTHON,
    ROOT,
    copy_limit,
    django_env,
    drop_database,
    migrate,
    psql,
    recreate_database,
    run_and_print,
    run_ingest,
)
from bench.feeds import LAYOUTS, serve, unit_muid, write_csv, write_unit_documents


def copy_of_feed(database: str, folder: Path, *, units: int, days: int) -> dict:
    """The limit for a feed of `units` x `days`: its rows as CSV (with the channel ids the
    ingest gave them), copied by psql."""
    ids = psql(
        database,
        "SELECT u.muid || '=' || c.id FROM meters_channel c JOIN meters_unit u ON u.id = c.unit_id",
        capture=True,
    )
    channel_ids = {
        uuid.UUID(muid): int(pk) for muid, pk in (line.split("=") for line in ids.splitlines())
    }
    csv = folder / "limit.csv"
    write_csv(csv, units=units, days=days, channel_ids=channel_ids)
    try:
        return copy_limit(database, csv)
    finally:
        csv.unlink()


def _ratio(row: dict, copy: dict) -> None:
    row["ratio_to_copy"] = round(row["seconds"] / copy["seconds"], 2)


def fleet(database: str, *, units: int, delay: float, concurrency: int | None) -> dict:
    """UNITS x 96 readings behind a DELAY-late server: as SOURCE URLs, then as registered units."""
    results: dict = {"units": units, "readings_per_unit": 96, "delay_ms": round(delay * 1000)}
    extra = ["--concurrency", str(concurrency)] if concurrency else []
    with tempfile.TemporaryDirectory(prefix="exnaton-fleet-") as tmp:
        folder = Path(tmp)
        write_unit_documents(folder, units=units, days=1, layouts=("compact", "spaced"))
        muids = [str(unit_muid(n)) for n in range(units)]
        with serve(folder, delay=delay) as base:
            recreate_database(database)
            migrate(database)
            results["sources"] = run_ingest(
                database, [*(f"{base}/{m}.json" for m in muids), *extra]
            )
            results["copy"] = copy_of_feed(database, folder, units=units, days=1)
            recreate_database(database)
            migrate(database)
            subprocess.run(
                [PYTHON, "manage.py", "register_units", *muids],
                cwd=ROOT,
                env=django_env(database),
                check=True,
                stdout=subprocess.DEVNULL,
            )
            environment = {
                "METERS_SOURCE_BASE_URL": base,
                "METERS_SOURCE_PATH": "/{muid}.json",
                "METERS_HISTORY_START": "2023-01-01T00:00:00Z",
            }
            # One day asked per unit (the feed's day), as a poll of a current unit is.
            stop = ["--stop", "2023-01-02T00:00:00Z"]
            results["registered"] = run_ingest(database, [*stop, *extra], **environment)
    for key in ("sources", "registered"):
        _ratio(results[key], results["copy"])
    return results


def documents(database: str, *, units: int, days: int) -> dict:
    """UNITS documents of DAYS days each, in every layout; the compact ones again, unchanged."""
    results: dict = {"units": units, "days": days}
    with tempfile.TemporaryDirectory(prefix="exnaton-docs-") as tmp:
        root = Path(tmp)
        for layout in LAYOUTS:
            (root / layout).mkdir()
            write_unit_documents(root / layout, units=units, days=days, layouts=(layout,))
        muids = [str(unit_muid(n)) for n in range(units)]
        with serve(root, delay=0) as base:
            for layout in LAYOUTS:
                recreate_database(database)
                migrate(database)
                urls = [f"{base}/{layout}/{m}.json" for m in muids]
                results[layout] = run_ingest(database, urls)
                results[layout]["megabytes"] = round(
                    sum(p.stat().st_size for p in (root / layout).iterdir()) / 1e6, 1
                )
            results["unchanged"] = run_ingest(database, urls)
            results["copy"] = copy_of_feed(database, root, units=units, days=days)
    for key in (*LAYOUTS, "unchanged"):
        _ratio(results[key], results["copy"])
    return results


def run(
    *,
    units: int,
    delay: float,
    concurrency: int | None,
    big_units: int,
    big_days: int,
    database: str,
    only: str | None = None,
) -> dict:
    results = {}
    if only in (None, "fleet"):
        results["fleet"] = fleet(database, units=units, delay=delay, concurrency=concurrency)
    if only in (None, "documents"):
        results["documents"] = documents(database, units=big_units, days=big_days)
    drop_database(database)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=2000, help="fleet units (96 readings each)")
    parser.add_argument("--delay", type=float, default=50, help="ms each fleet response is late")
    parser.add_argument("--concurrency", type=int, help="default: the setting's")
    parser.add_argument("--big-units", type=int, default=100)
    parser.add_argument("--big-days", type=int, default=105, help="105 days: 10,080 readings")
    parser.add_argument("--database", default="exnaton_bench_fleet")
    parser.add_argument("--only", choices=["fleet", "documents"], help="one of the two workloads")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    run_and_print(run, args, delay=args.delay / 1000)


if __name__ == "__main__":
    main()
