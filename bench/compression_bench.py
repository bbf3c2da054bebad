"""The API's data compressed (exnaton/middleware.py, CompressedApiData): for answers of typical
sizes on the query database of bench/query_db.py, the bytes on the wire and the API's latency
with and without `Accept-Encoding: gzip` (Django's test client in this process), against
zlib compressing the same bytes on its own (the limit: what gzip itself costs).

    python -m bench.compression_bench --database exnaton_bench_q35m --repeat 15
"""

import argparse
import gzip
import statistics
from pathlib import Path

from bench.common import Stopwatch, load_average, print_results
from bench.feeds import unit_muid
from bench.query_bench import prepare

MONTH = "start=2023-06-01&end=2023-07-01"


def answers() -> dict[str, str]:
    one = unit_muid(0)
    ten = ",".join(str(unit_muid(i)) for i in range(10))
    return {
        "readings, 1 unit, 1 page of 5000": f"/api/v1/readings/?muid={one}&page_size=5000",
        "15min sums, 1 unit, 1 month": f"/api/v1/readings/aggregate/?muid={one}&interval=15min"
        f"&agg=sum&{MONTH}",
        "hour sums, 10 units, 1 month": f"/api/v1/readings/aggregate/?muid={ten}&interval=hour"
        f"&agg=sum&{MONTH}",
        "day sums, 1 unit, 1 year": f"/api/v1/readings/aggregate/?muid={one}&interval=day"
        "&agg=sum&start=2023-01-01&end=2024-01-01",
        "CSV, 1 unit, 1 month": f"/api/v1/readings/csv/?muid={one}&{MONTH}",
    }


def _body(response) -> bytes:
    assert response.status_code == 200, response.status_code
    return b"".join(response.streaming_content) if response.streaming else response.content


def _median_ms(call, repeat: int) -> tuple[float, bytes]:
    body = call()
    seconds = []
    for _ in range(repeat):
        with Stopwatch() as watch:
            body = call()
        seconds.append(watch.seconds)
    return round(statistics.median(seconds) * 1000, 2), body


def run(database: str, repeat: int) -> dict:
    token, _ = prepare(database)
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Token {token}", HTTP_HOST="127.0.0.1")
    results = {"database": database, "load_before": load_average(), "answers": {}}
    for name, path in answers().items():
        plain_ms, plain = _median_ms(lambda path=path: _body(client.get(path)), repeat)
        gzip_ms, wire = _median_ms(
            lambda path=path: _body(client.get(path, headers={"Accept-Encoding": "gzip"})),
            repeat,
        )
        assert gzip.decompress(wire) == plain
        zlib_ms, _ = _median_ms(lambda plain=plain: gzip.compress(plain, 6), repeat)
        results["answers"][name] = {
            "bytes": len(plain),
            "gzip_bytes": len(wire),
            "ratio": round(len(plain) / len(wire), 1),
            "api_ms": plain_ms,
            "api_gzip_ms": gzip_ms,
            "gzip_alone_ms": zlib_ms,
        }
    results["load_after"] = load_average()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", default="exnaton_bench_q35m")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--out", type=Path)
    options = parser.parse_args()
    print_results(run(options.database, options.repeat), options.out)


if __name__ == "__main__":
    main()
