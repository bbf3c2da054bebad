"""Migration 0008 (the readings partitioned) on the query benchmark's database: storage per
reading and the query benchmark's SQL before (id key, one table) and after (composite key,
monthly partitions), the conversion's time, and a retention run (two months pruned) against
deleting the same rows.

The database is built at migration 0007, before the partitions, by bench/query_db.py (UNITS
units x DAYS days from 2023-01-01), measured, migrated, measured again with exactly the same
statements (captured once from the API, as bench/query_bench.py does), then pruned.

    python -m bench.partitions_bench --units 1000 --days 365 --database exnaton_bench_parts
"""

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg2

from bench import query_bench, query_db
from bench.common import (
    Stopwatch,
    db_url,
    drop_database,
    load_average,
    migrate,
    print_results,
    psql,
    recreate_database,
    setup_django,
    summary_ms,
)

BEFORE = ("meters", "0007_unit_queued_at")
MEASURE_SECONDS = 20
# Prune January and February 2023: what `prune_readings --older-than 365d` does on 15 March 2024.
PRUNE_NOW = datetime(2024, 3, 15, tzinfo=UTC)
PRUNE_BEFORE = datetime(2023, 3, 1, tzinfo=UTC)
# The readings table and its partitions (the table itself when not partitioned).
LEAVES = (
    "SELECT relid FROM pg_partition_tree('meters_reading') WHERE isleaf "
    "UNION ALL SELECT oid FROM pg_class WHERE oid = 'meters_reading'::regclass AND relkind = 'r'"
)


def storage(database: str) -> dict:
    """Bytes of the readings (heap, indexes, total with TOAST), whole and per reading."""
    heap, indexes, total, rows = psql(
        database,
        "SELECT sum(pg_relation_size(relid)), sum(pg_indexes_size(relid)), "
        f"sum(pg_total_relation_size(relid)), (SELECT count(*) FROM meters_reading) "
        f"FROM ({LEAVES}) l",
        capture=True,
    ).split("|")
    rows = int(rows)
    sizes = {"heap": int(heap), "indexes": int(indexes), "total": int(total)}
    return {
        "readings": rows,
        **{f"{k}_mb": round(v / 2**20, 1) for k, v in sizes.items()},
        **{f"{k}_per_reading": round(v / rows, 1) for k, v in sizes.items()},
        "tables": int(psql(database, f"SELECT count(*) FROM ({LEAVES}) l", capture=True)),
    }


def queries(databases: tuple[str, str], statements: dict[str, list[str]], repeat: int) -> dict:
    """Each query's statements on both databases (before, after), alternately, so that both
    see the same load: the machine may be shared. Then EXPLAIN (ANALYZE, BUFFERS) of each."""
    from django.conf import settings

    # The same session settings as the API's connections (DATABASE_WORK_MEM and
    # DATABASE_TEMP_BUFFERS).
    options = settings.DATABASES["default"].get("OPTIONS", {}).get("options", "")
    connections = [psycopg2.connect(db_url(name), options=options) for name in databases]
    timed: dict = {}
    for name, sql in statements.items():
        load = load_average()
        seconds: list[list[float]] = [[], []]
        started, round_ = time.monotonic(), 0
        # The first two rounds warm both. At least `repeat` rounds and MEASURE_SECONDS: a
        # query of a millisecond needs hundreds of rounds on a loaded machine.
        while round_ < repeat + 2 or time.monotonic() - started < MEASURE_SECONDS:
            round_ += 1
            for index, connection in enumerate(connections):
                with connection.cursor() as cursor, Stopwatch() as watch:
                    for statement in sql:
                        cursor.execute(statement)
                        cursor.fetchall()
                connection.rollback()
                if round_ > 2:
                    seconds[index].append(watch.seconds)
        timed[name] = {}
        states = zip(("before", "after"), connections, strict=True)
        for index, (state, connection) in enumerate(states):
            plans = []
            with connection.cursor() as cursor:
                for statement in sql:
                    cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {statement}")
                    plans.append("\n".join(row[0] for row in cursor.fetchall()))
            connection.rollback()
            timed[name][state] = {**summary_ms(seconds[index]), "explain": "\n\n".join(plans)}
        timed[name]["load"] = load
        timed[name]["statements"] = sql
    for connection in connections:
        connection.close()
    return timed


def delete_cost(database: str) -> dict:
    """What pruning the same months costs as a DELETE on the unpartitioned table (rolled
    back: the table stays as it was; VACUUM's later work is not counted)."""
    connection = psycopg2.connect(db_url(database))
    load = load_average()
    with connection.cursor() as cursor, Stopwatch() as watch:
        cursor.execute("DELETE FROM meters_reading WHERE timestamp < %s", [PRUNE_BEFORE])
        deleted = cursor.rowcount
    connection.rollback()
    connection.close()
    return {"readings": deleted, "seconds": round(watch.seconds, 2), "load": load}


def prune() -> dict:
    from meters import partitions

    load = load_average()
    with Stopwatch() as watch:
        pruned = partitions.prune_readings(before=PRUNE_BEFORE, now=PRUNE_NOW)
    return {
        "readings": pruned.readings,
        "partitions": len(pruned.partitions),
        "channels": pruned.channels,
        "seconds": round(watch.seconds, 2),
        "load": load,
    }


def run(*, database: str, units: int, days: int, repeat: int, keep: bool) -> dict:
    before, after = f"{database}_before", f"{database}_after"
    results: dict = {"databases": [before, after], "units": units, "days": days}
    results["build"] = query_db.build(before, units=units, days=days, target=BEFORE)
    # The API's login tables, leaving the readings at 0007.
    migrate(before, "authtoken")
    migrate(before, "sessions")
    results["before"] = {"storage": storage(before)}
    results["delete"] = delete_cost(before)
    recreate_database(after, template=before)
    results["migration"] = {"load": load_average()}
    with Stopwatch() as watch:
        migrate(after)
    results["migration"]["seconds"] = round(watch.seconds, 1)
    query_db.vacuum(after)
    results["after"] = {"storage": storage(after)}
    setup_django(after)
    token, _ = query_bench.prepare(after)
    statements = {
        name: query_bench.captured_sql(path, token)
        for name, path in query_bench.queries(units).items()
    }
    results["queries"] = queries((before, after), statements, repeat)
    results["prune"] = prune()
    if not keep:
        from django.db import connection

        connection.close()
        drop_database(before)
        drop_database(after)
    return results


def table(results: dict) -> str:
    """The Markdown tables of docs/BENCHMARKS.md."""
    before, after = results["before"], results["after"]
    lines = [
        "| readings table | readings | heap | indexes | total | per reading (heap + indexes) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, state in [
        ("id key + unique (channel, timestamp), one table", before),
        ("(channel, timestamp) key, monthly partitions", after),
    ]:
        s = state["storage"]
        lines.append(
            f"| {label} | {s['readings']:,} | {s['heap_mb']:,} MB | {s['indexes_mb']:,} MB "
            f"| {s['total_mb']:,} MB | {s['total_per_reading']} B "
            f"({s['heap_per_reading']} + {s['indexes_per_reading']}) |"
        )
    lines += [
        "",
        "| query (SQL the API sends, the two tables alternately) | one table, median "
        "| partitioned, median | ratio | load |",
        "|---|---:|---:|---:|---|",
    ]
    for name, timed in results["queries"].items():
        was, now = timed["before"], timed["after"]
        lines.append(
            f"| {name} | {was['median_ms']} ms | {now['median_ms']} ms "
            f"| {now['median_ms'] / was['median_ms']:.2f} | {timed['load']} |"
        )
    prune, delete = results["prune"], results["delete"]
    lines += [
        "",
        "| removing January and February 2023 | readings | seconds | load |",
        "|---|---:|---:|---|",
        f"| `prune_readings`: {prune['partitions']} partitions dropped, spans of "
        f"{prune['channels']:,} channels corrected | {prune['readings']:,} | {prune['seconds']} "
        f"| {prune['load']} |",
        f"| `DELETE .. WHERE timestamp < '2023-03-01'` on the one table (rolled back) "
        f"| {delete['readings']:,} | {delete['seconds']} | {delete['load']} |",
        f"| migration 0005 (conversion of the table) | {before['storage']['readings']:,} "
        f"| {results['migration']['seconds']} | {results['migration']['load']} |",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="exnaton_bench_parts")
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=30, help="rounds at least")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = run(
        database=args.database,
        units=args.units,
        days=args.days,
        repeat=args.repeat,
        keep=args.keep,
    )
    print_results(results, args.json)
    print(table(results))


if __name__ == "__main__":
    main()
