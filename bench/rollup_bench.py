"""The rollup benchmark: aggregates through the API, which reads the rollups, against the same
aggregates computed from the raw readings in SQL, on the bulk database of bench/query_db.py
(1,000 units x 1 year at 15 minutes by default).

For each query and zone: the API's latency (Django's test client in this process: routing,
parameters, the queries and the JSON) with the rollups complete, and the SQL the API sends
when they are marked incomplete (the aggregation over readings) run directly through libpq on
its own connection. The ratio raw SQL / API is the speed-up; both answers are compared.

    python -m bench.rollup_bench --database exnaton_bench_q35m --repeat 10
"""

import argparse
import json
import statistics
from pathlib import Path

from bench.common import (
    Stopwatch,
    load_average,
    migrate,
    print_results,
    rebuild_rollups,
    summary_ms,
)
from bench.feeds import unit_muid
from bench.query_bench import SERVER_CURSOR, prepare, time_sql

YEAR = "start=2023-01-01&end=2024-01-01"
MONTH = "start=2023-06-01&end=2023-07-01"
ZONES = ["Europe/Zurich", "America/New_York"]
AGGREGATE = "/api/v1/readings/aggregate/"


def queries(units: int) -> dict[str, tuple[str, float]]:
    """The issue's four aggregates: (query string without zone, speed-up target in the zone of
    the day rollups); the target elsewhere is in TARGET_ELSEWHERE."""
    one = unit_muid(0)
    hundred = ",".join(str(unit_muid(i)) for i in range(min(100, units)))
    return {
        "day sums, 1 unit, 1 year": (f"muid={one}&interval=day&agg=sum&{YEAR}", 10),
        f"month sums, {units:,} units, 1 year": (f"interval=month&agg=sum&{YEAR}", 10),
        "day sums, 100 units, 1 month": (f"muid={hundred}&interval=day&agg=sum&{MONTH}", 10),
        "hour sums, 1 unit, 1 month": (f"muid={one}&interval=hour&agg=sum&{MONTH}", 1),
    }


TARGET_ELSEWHERE = {10: 3, 1: 1}


def _set_rollups(complete: bool) -> None:
    from meters.models import RollupStatus

    RollupStatus.objects.update(complete=complete)


def _get(client, path: str) -> bytes:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code, response.content[:300])
    return response.content


def time_api(client, path: str, repeat: int) -> tuple[list[float], bytes]:
    for _ in range(2):
        body = _get(client, path)
    seconds = []
    for _ in range(repeat):
        with Stopwatch() as watch:
            _get(client, path)
        seconds.append(watch.seconds)
    return seconds, body


def raw_statements(client, path: str) -> tuple[list[str], bytes]:
    """The SQL of the aggregation over readings that the API runs for `path`, and its answer."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _set_rollups(False)
    try:
        with CaptureQueriesContext(connection) as captured:
            body = _get(client, path)
    finally:
        _set_rollups(True)
    statements = [
        SERVER_CURSOR.sub("", q["sql"]) for q in captured.captured_queries if "GROUP BY" in q["sql"]
    ]
    return statements, body


def run(*, database: str, units: int, repeat: int) -> dict:
    migrate(database)
    rebuild_rollups(database)  # nothing to do when they are complete
    token, _ = prepare(database)
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Token {token}", HTTP_HOST="127.0.0.1")
    results: dict = {"database": database, "queries": {}, "load_at_start": load_average()}
    for zone in ZONES:
        for name, (query, target) in queries(units).items():
            path = f"{AGGREGATE}?{query}&tz={zone}"
            statements, raw_body = raw_statements(client, path)
            api_seconds, body = time_api(client, path, repeat)
            sql_seconds, _ = time_sql(database, statements, repeat)
            api, sql = summary_ms(api_seconds), summary_ms(sql_seconds)
            speedup = statistics.median(sql_seconds) / statistics.median(api_seconds)
            goal = target if zone == ZONES[0] else TARGET_ELSEWHERE[target]
            results["queries"][f"{name} ({zone})"] = {
                "path": path,
                "api_ms": api,
                "raw_sql_ms": sql,
                "speedup": round(speedup, 1),
                "target": goal,
                "met": speedup >= goal,
                "same_answer": json.loads(body) == json.loads(raw_body),
                "buckets": len(json.loads(body)["buckets"]),
            }
            print(f"{name} ({zone}): {speedup:.1f}x", flush=True)
    results["load_at_end"] = load_average()
    return results


def table(results: dict) -> str:
    lines = [
        "| aggregate (zone) | buckets | API, rollups (median) | raw SQL (median) | speed-up "
        "| target | same answer |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, row in results["queries"].items():
        lines.append(
            f"| {name} | {row['buckets']:,} | {row['api_ms']['median_ms']} ms "
            f"| {row['raw_sql_ms']['median_ms']} ms | {row['speedup']}x "
            f"| {row['target']}x {'met' if row['met'] else 'MISSED'} "
            f"| {'yes' if row['same_answer'] else 'NO'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="exnaton_bench_q35m")
    parser.add_argument("--units", type=int, default=1000, help="units in the database")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = run(database=args.database, units=args.units, repeat=args.repeat)
    print_results(results, args.json)
    print(table(results))


if __name__ == "__main__":
    main()
