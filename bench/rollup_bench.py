"""The rollup benchmark: aggregates through the API, which reads the rollups, against the same
aggregates computed from the raw readings in SQL, on the bulk database of bench/query_db.py
(1,000 units x 1 year at 15 minutes by default).

For each query and zone, with the rollups complete and again marked incomplete (the aggregation
over readings, as before rollups): the API's latency (Django's test client in this process:
routing, parameters, the queries and the JSON) and that of the aggregation SQL it sent, run
directly through libpq on its own connection. The speed-up is the raw aggregation's SQL over
the API on rollups; the two answers are compared.

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
        "hour sums, 1 unit, 1 month": (f"muid={one}&interval=hour&agg=sum&{MONTH}", NO_SLOWER),
    }


NO_SLOWER = 1  # the target of a query the rollups need not speed up: no slower than before
TARGET_ELSEWHERE = {10: 3, NO_SLOWER: NO_SLOWER}


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


def statements(client, path: str) -> list[str]:
    """The SQL of the aggregation the API runs for `path`."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        _get(client, path)
    return [
        SERVER_CURSOR.sub("", q["sql"]) for q in captured.captured_queries if "GROUP BY" in q["sql"]
    ]


def measure(client, database: str, path: str, repeat: int) -> dict:
    """The API's and its aggregation SQL's latencies for `path`, and the API's answer."""
    api_seconds, body = time_api(client, path, repeat)
    sql_seconds, _ = time_sql(database, statements(client, path), repeat)
    return {"api": api_seconds, "sql": sql_seconds, "body": json.loads(body)}


def measure_raw(client, database: str, path: str, repeat: int) -> dict:
    """The same with the rollups marked incomplete: the aggregation over readings."""
    _set_rollups(False)
    try:
        return measure(client, database, path, repeat)
    finally:
        _set_rollups(True)


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
            raw = measure_raw(client, database, path, repeat)
            rolled = measure(client, database, path, repeat)
            median = {
                f"{kind}_{side}": statistics.median(times[side])
                for kind, times in (("raw", raw), ("rollups", rolled))
                for side in ("api", "sql")
            }
            speedup = median["raw_sql"] / median["rollups_api"]
            goal = target if zone == ZONES[0] else TARGET_ELSEWHERE[target]
            # "No query slower than today": today's answer is the API's over the readings.
            judged = median["raw_api"] / median["rollups_api"] if goal == NO_SLOWER else speedup
            results["queries"][f"{name} ({zone})"] = {
                "path": path,
                **{f"{key}_ms": round(seconds * 1000, 2) for key, seconds in median.items()},
                "speedup": round(speedup, 1),
                "speedup_api": round(median["raw_api"] / median["rollups_api"], 1),
                "speedup_sql": round(median["raw_sql"] / median["rollups_sql"], 1),
                "target": goal,
                "judged_by": "API / API" if goal == NO_SLOWER else "raw SQL / API",
                "met": judged >= goal,
                "same_answer": rolled["body"] == raw["body"],
                "buckets": len(rolled["body"]["buckets"]),
            }
            print(f"{name} ({zone}): {speedup:.1f}x", flush=True)
    results["load_at_end"] = load_average()
    return results


def table(results: dict) -> str:
    lines = [
        "| aggregate (zone) | buckets | API on rollups | its SQL | API on readings | their SQL "
        "(the limit before) | speed-up: raw SQL / API | target | API / API | SQL / SQL "
        "| same answer |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---|",
    ]
    for name, row in results["queries"].items():
        lines.append(
            f"| {name} | {row['buckets']:,} | {row['rollups_api_ms']} ms "
            f"| {row['rollups_sql_ms']} ms | {row['raw_api_ms']} ms | {row['raw_sql_ms']} ms "
            f"| **{row['speedup']}x** | {row['target']}x by {row['judged_by']}: "
            f"{'met' if row['met'] else 'MISSED'} "
            f"| {row['speedup_api']}x | {row['speedup_sql']}x "
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
