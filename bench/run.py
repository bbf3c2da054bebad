"""Run every benchmark and write the results: `make bench` (full size) or `make bench-quick`.

Full size: the ingest of 1,000,000 readings (20 units x 521 days) and the queries on 1,000
units x 365 days (35 million readings; the database exnaton_bench_q35m is built once and kept,
`--rebuild` builds it again). Quick: the same steps on small sizes and throwaway databases.
Results go to bench/results/ as JSON and as the Markdown table docs/BENCHMARKS.md quotes.
"""

import argparse
import json
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import query_db
from bench.common import PYTHON, ROOT, drop_database, load_average, machine, psql

RESULTS = ROOT / "bench" / "results"
SIZES = {
    "full": {
        "ingest": {"units": 20, "days": 521, "naive": 20_000},
        "fleet": {"units": 2000, "delay": 50, "big_units": 100, "big_days": 105},
        "queue": {"units": 2000, "delay": 50},
        "query": {"database": "exnaton_bench_q35m", "units": 1000, "days": 365, "keep": True},
        "repeat": 30,
        "wrk_seconds": 20,
    },
    "quick": {
        "ingest": {"units": 2, "days": 104, "naive": 2_000},
        "fleet": {"units": 100, "delay": 50, "big_units": 5, "big_days": 30},
        "queue": {"units": 100, "delay": 50},
        "query": {"database": "exnaton_bench_qquick", "units": 10, "days": 190, "keep": False},
        "repeat": 5,
        "wrk_seconds": 3,
    },
}


def _run_json(module: str, *arguments: str) -> dict:
    """Run one benchmark in its own process (each configures Django for its own database)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as output:
        subprocess.run(
            [PYTHON, "-m", module, *arguments, f"--json={output.name}"],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return json.loads(Path(output.name).read_text())


def _exists(database: str) -> bool:
    found = psql(
        "postgres", f"SELECT 1 FROM pg_database WHERE datname = '{database}'", capture=True
    )
    return found == "1"


def table(results: dict) -> str:
    """The results as the Markdown tables of docs/BENCHMARKS.md."""
    ingest, lines = results["ingest"], []
    lines += [
        "| ingest | readings | seconds | readings/s | vs COPY (time) | peak RSS "
        "| load (1/5/15 min) |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    copy_seconds = ingest["copy"]["seconds"]
    for label, key in [
        ("first ingest (`ingest_meters` over HTTP)", "first"),
        ("re-ingest, nothing changed", "unchanged"),
        ("re-ingest, 1% of values changed", "changed_1pct"),
        ("PostgreSQL `\\copy` from CSV (the limit)", "copy"),
        ("naive ORM loop, one `create()` per reading", "naive_orm"),
    ]:
        row = ingest[key]
        ratio = f"{row['seconds'] / copy_seconds:.2f}" if key != "naive_orm" else "-"
        rss = f"{row['peak_rss_mb']} MB" if "peak_rss_mb" in row else "-"
        lines.append(
            f"| {label} | {row['readings']:,} | {row['seconds']} | {row['readings_per_s']:,} "
            f"| {ratio} | {rss} | {row['load']} |"
        )
    lines += ["", *fleet_table(results["fleet"])]
    if "queue" in results:
        lines += ["", *queue_table(results["queue"])]
    lines += [
        "",
        "| query (through the API vs the same SQL) | API median | API p95 | SQL median | SQL p95 "
        "| ratio | target (1.5 x SQL + 10 ms) | load |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, row in results["query"]["queries"].items():
        api, sql = row["api"], row["sql"]
        lines.append(
            f"| {name} | {api['median_ms']} ms | {api['p95_ms']} ms | {sql['median_ms']} ms "
            f"| {sql['p95_ms']} ms | {row['ratio']} | {row['target_ms']} ms | {row['load']} |"
        )
    lines += [
        "",
        "| wrk (bounded) | connections | seconds | requests/s | p50 | p95 | p99 | errors | load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, row in results["query"]["wrk"].items():
        lines.append(
            f"| {name} | {row['connections']} | {row['duration_us'] / 1e6:.0f} "
            f"| {row['requests_per_s']} | {row['p50_ms']} ms | {row['p95_ms']} ms "
            f"| {row['p99_ms']} ms | {row['errors']} | {row['load']} |"
        )
    page = results["query"]["report_page"]
    lines += [
        "",
        "| EDA report page, one unit-month | median | p95 | n |",
        "|---|---:|---:|---:|",
    ]
    for key, label in (
        ("cold", "page HTML, cold (first request for the unit-month)"),
        ("warm", "page HTML, warm (cached)"),
        ("with_charts_cold", "page and its 7 chart images in parallel, cold"),
        ("with_charts_warm", "page and its 7 chart images in parallel, warm"),
    ):
        row = page[key]
        lines.append(f"| {label} | {row['median_ms']} ms | {row['p95_ms']} ms | {row['n']} |")
    return "\n".join(lines) + "\n"


def fleet_table(fleet: dict) -> list[str]:
    """The fleet benchmark's rows: every workload next to the `\\copy` of its rows."""
    lines = [
        "| fleet ingest | sources | readings | seconds | sources/s | readings/s | vs COPY (time) "
        "| peak RSS | CPU s | load (1/5/15 min) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    small, big = fleet["fleet"], fleet["documents"]
    units = f"{small['units']:,} units x 96 readings, {small['delay_ms']} ms late"
    rows = [
        (f"{units}, as SOURCE URLs", small["sources"], small["copy"]),
        (
            "the same as registered units (`ingest_meters`, no argument)",
            small["registered"],
            small["copy"],
        ),
        ("PostgreSQL `\\copy` of the same rows", small["copy"], small["copy"]),
        *(
            (
                f"{big['units']} documents x {big['days'] * 96:,} readings, {layout} "
                f"({big[layout]['megabytes']} MB)",
                big[layout],
                big["copy"],
            )
            for layout in ("compact", "spaced", "pretty")
        ),
        ("the pretty ones again, nothing changed", big["unchanged"], big["copy"]),
        ("PostgreSQL `\\copy` of the same rows", big["copy"], big["copy"]),
    ]
    for label, row, copy in rows:
        rss = f"{row['peak_rss_mb']} MB" if "peak_rss_mb" in row else "-"
        lines.append(
            f"| {label} | {row.get('sources', '-')} | {row['readings']:,} | {row['seconds']} "
            f"| {row.get('sources_per_s', '-')} | {row.get('readings_per_s', '-')} "
            f"| {row['seconds'] / copy['seconds']:.2f} | {rss} | {row.get('cpu_s', '-')} "
            f"| {row['load']} |"
        )
    return lines


def queue_table(queue: dict) -> list[str]:
    """The fleet through the task queue (bench/queue_bench.py), by number of workers."""
    lines = [
        f"| through the queue: {queue['units']:,} units x 96 readings, {queue['delay_ms']} ms "
        f"late, {queue['batch']} units per task | seconds | units/s | readings/s | load |",
        "|---|---:|---:|---:|---|",
    ]
    one = queue["in_process"]
    lines.append(
        f"| one process, no broker (`ingest_meters`) | {one['seconds']} | {one['units_per_s']} "
        f"| {one['readings_per_s']:,} | {one['load']} |"
    )
    lines.extend(
        f"| {row['workers']} worker(s) | {row['seconds']} | {row['units_per_s']} "
        f"| {row['readings_per_s']:,} | {row['load']} |"
        for row in queue["runs"]
    )
    return lines


def _save(results: dict) -> str:
    """Write the results so far to bench/results/; returns the file's stem."""
    RESULTS.mkdir(exist_ok=True)
    stem = f"{results['size']}-{results['started'][:19].replace(':', '')}"
    (RESULTS / f"{stem}.json").write_text(json.dumps(results, indent=2, default=str))
    return stem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a few minutes")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the query database")
    parser.add_argument("--skip-ingest", action="store_true")
    args = parser.parse_args()
    size = SIZES["quick" if args.quick else "full"]
    started = time.monotonic()
    results: dict = {
        "size": "quick" if args.quick else "full",
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "load_at_start": load_average(),
        "command": "make bench-quick" if args.quick else "make bench",
    }
    if not args.skip_ingest:
        print("ingest benchmark ...", flush=True)
        ingest = size["ingest"]
        results["ingest"] = _run_json(
            "bench.ingest_bench",
            f"--units={ingest['units']}",
            f"--days={ingest['days']}",
            f"--naive={ingest['naive']}",
        )
        print("fleet benchmark ...", flush=True)
        fleet = size["fleet"]
        results["fleet"] = _run_json(
            "bench.fleet_bench",
            f"--units={fleet['units']}",
            f"--delay={fleet['delay']}",
            f"--big-units={fleet['big_units']}",
            f"--big-days={fleet['big_days']}",
        )
        print("queue benchmark ...", flush=True)
        queue = size["queue"]
        results["queue"] = _run_json(
            "bench.queue_bench", f"--units={queue['units']}", f"--delay={queue['delay']}"
        )
        _save(results)  # a later step that fails leaves these
    spec = size["query"]
    if args.rebuild or not _exists(spec["database"]):
        print(f"building {spec['database']} ...", flush=True)
        results["query_db"] = query_db.build(
            spec["database"], units=spec["units"], days=spec["days"]
        )
    print("query benchmark ...", flush=True)
    results["query"] = _run_json(
        "bench.query_bench",
        f"--database={spec['database']}",
        f"--units={spec['units']}",
        f"--repeat={size['repeat']}",
        f"--wrk-seconds={size['wrk_seconds']}",
    )
    if not spec["keep"]:
        drop_database(spec["database"])
    results["load_at_end"] = load_average()
    results["total_s"] = round(time.monotonic() - started)
    stem = _save(results)
    if "ingest" in results:
        markdown = table(results)
        (RESULTS / f"{stem}.md").write_text(markdown)
        print(markdown)
    print(f"results: {RESULTS / stem}.json ({results['total_s']} s)")


if __name__ == "__main__":
    main()
