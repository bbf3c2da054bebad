"""The query benchmark: the API under gunicorn against the same SQL run directly, on the bulk
database of bench/query_db.py (1,000 units x 1 year at 15 minutes by default).

For each query: the API's latency over HTTP on loopback (gunicorn, production settings), and
the latency of exactly the SQL the API sent (captured from Django), run through libpq on a
fresh connection: the limit. Then EXPLAIN (ANALYZE, BUFFERS) of that SQL, a bounded wrk run on
the aggregate and readings endpoints, and the EDA report page for one unit-month, cold and
warm, alone and with its chart images.

    python -m bench.query_bench --database exnaton_bench_q35m --repeat 30 --wrk-seconds 20
"""

import argparse
import html
import json
import os
import re
import socket
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg2
import requests

from bench.common import (
    ROOT,
    Stopwatch,
    db_url,
    django_env,
    load_average,
    migrate,
    print_results,
    setup_django,
    summary_ms,
)
from bench.feeds import unit_muid

MONTH = "start=2023-06-01&end=2023-07-01"
OTHER_MONTH = "start=2023-07-01&end=2023-08-01"
# A browser opens up to six connections to one host and fetches a page's images over them.
BROWSER_CONNECTIONS = 6
IMAGE_SRC = re.compile(r'<img src="([^"]+)"')
SERVER_CURSOR = re.compile(r'^DECLARE "[^"]+" NO SCROLL CURSOR WITH(OUT)? HOLD FOR ')
WRK_SCRIPT = """
local paths = {%(paths)s}
local i = 0
wrk.headers["Authorization"] = "Token %(token)s"
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i %% #paths) + 1])
end
done = function(summary, latency, requests)
  io.write(string.format(
    "JSON {\\"requests\\": %%d, \\"duration_us\\": %%d, \\"p50_ms\\": %%.2f, \\"p95_ms\\": %%.2f, "
    .. "\\"p99_ms\\": %%.2f, \\"max_ms\\": %%.2f, \\"non_2xx\\": %%d, \\"connect\\": %%d, "
    .. "\\"read\\": %%d, \\"write\\": %%d, \\"timeout\\": %%d}\\n",
    summary.requests, summary.duration, latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    summary.errors.status, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout))
end
"""


def queries(units: int) -> dict[str, str]:
    """The issue's four queries, as API paths."""
    one = unit_muid(0)
    hundred = ",".join(str(unit_muid(i)) for i in range(min(100, units)))
    return {
        "day sums, 1 unit, 1 year (Europe/Zurich)": (
            f"/api/v1/readings/aggregate/?muid={one}&interval=day&agg=sum&tz=Europe/Zurich"
            "&start=2023-01-01&end=2024-01-01"
        ),
        "hour sums, 1 unit, 1 month": (
            f"/api/v1/readings/aggregate/?muid={one}&interval=hour&agg=sum&tz=Europe/Zurich&{MONTH}"
        ),
        "day sums, 100 units, 1 month": (
            f"/api/v1/readings/aggregate/?muid={hundred}&interval=day&agg=sum&tz=Europe/Zurich"
            f"&{MONTH}"
        ),
        "1 page (500) of readings, 1 unit, 1 week": (
            f"/api/v1/readings/?muid={one}&start=2023-06-01&end=2023-06-08&page_size=500"
        ),
    }


def prepare(database: str) -> tuple[str, str]:
    """A staff user with an API token and a login session; returns (token, session key)."""
    setup_django(database)
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore
    from rest_framework.authtoken.models import Token

    user, _ = User.objects.get_or_create(
        username="bench", defaults={"is_staff": True, "is_superuser": True}
    )
    token, _ = Token.objects.get_or_create(user=user)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return token.key, session.session_key


def captured_sql(path: str, token: str) -> list[str]:
    """The SQL statements on readings that the API runs for `path` (in this process)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Token {token}", HTTP_HOST="127.0.0.1")
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200, (path, response.status_code, response.content[:300])
    # A streamed queryset runs as a server-side cursor: the limit is its SELECT, run plainly.
    return [
        SERVER_CURSOR.sub("", q["sql"])
        for q in captured.captured_queries
        if "meters_reading" in q["sql"]
    ]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(database: str, scratch: Path, workers: int) -> tuple[subprocess.Popen, str]:
    """gunicorn with the production settings beyond django_env's: the throttles are off (a
    benchmark client would be throttled by design); static files and the file cache the
    deployments use live in the temporary folder `scratch`."""
    port = _free_port()
    env = django_env(
        database,
        # Persistent connections, as the compose file and the Secret template configure them:
        # a new PostgreSQL connection per request would add ~5 ms to every figure.
        DATABASE_URL=f"{db_url(database)}?conn_max_age=60&conn_health_checks=true",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY=str(workers),
        GUNICORN_LOG_LEVEL="warning",
        DJANGO_STATIC_ROOT=str(scratch / "static"),
        # One cache for both workers, as compose and Kubernetes set it: a page and its chart
        # images are often served by different workers.
        CACHE_URL=f"filecache://{scratch / 'cache'}",
        API_THROTTLE_USER="",
        API_THROTTLE_ANON="",
        # Production recycles a worker every ~1000 requests; a recycle mid-run (a cold start of
        # a few seconds) would measure the restart, not the endpoint.
        GUNICORN_MAX_REQUESTS="1000000",
    )
    subprocess.run(
        [str(ROOT / ".venv/bin/python"), "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    process = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "-c", "deploy/gunicorn.conf.py", "exnaton.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(f"{base}/healthz", timeout=1)
            return process, base
        except requests.RequestException:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError("gunicorn did not start")


def time_api(session: requests.Session, url: str, repeat: int) -> list[float]:
    for _ in range(3):  # warm the connection and the worker
        session.get(url).raise_for_status()
    seconds = []
    for _ in range(repeat):
        with Stopwatch() as watch:
            response = session.get(url)
            response.raise_for_status()
            response.content  # noqa: B018 - read the whole body
        seconds.append(watch.seconds)
    return seconds


def time_sql(database: str, statements: list[str], repeat: int) -> tuple[list[float], str]:
    from django.conf import settings

    # The same session settings as the API's connections (DATABASE_WORK_MEM and
    # DATABASE_TEMP_BUFFERS).
    options = settings.DATABASES["default"].get("OPTIONS", {}).get("options", "")
    connection = psycopg2.connect(db_url(database), options=options)
    connection.autocommit = True
    with connection.cursor() as cursor:
        for statement in statements:  # warm, as the API was
            cursor.execute(statement)
            cursor.fetchall()
        seconds = []
        for _ in range(repeat):
            with Stopwatch() as watch:
                for statement in statements:
                    cursor.execute(statement)
                    cursor.fetchall()
            seconds.append(watch.seconds)
        plans = []
        for statement in statements:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {statement}")
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    connection.close()
    return seconds, "\n\n".join(plans)


def run_wrk(base: str, paths: list[str], token: str, *, seconds: int, connections: int) -> dict:
    lua = WRK_SCRIPT % {"paths": ", ".join(json.dumps(p) for p in paths), "token": token}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua)
    load = load_average()
    command = f"wrk --threads=2 --connections={connections} --duration={seconds}s --timeout=10s"
    done = subprocess.run(
        [*command.split(), f"--script={script.name}", base],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    )
    os.unlink(script.name)
    line = next(x for x in done.stdout.splitlines() if x.startswith("JSON "))
    result = json.loads(line[5:])
    result["requests_per_s"] = round(result["requests"] / (result["duration_us"] / 1e6), 1)
    result["errors"] = sum(result[k] for k in ("non_2xx", "connect", "read", "write", "timeout"))
    result["connections"] = connections
    result["load"] = load
    return result


def _page_with_images(session: requests.Session, url: str, pool: ThreadPoolExecutor) -> float:
    """Seconds to fetch a page and then all its images in parallel, as a browser does once the
    HTML has arrived (one new loopback connection per image: a handshake is ~0.1 ms)."""
    base = url.split("/analysis/", 1)[0]
    with Stopwatch() as watch:
        page = session.get(url)
        page.raise_for_status()
        sources = [base + html.unescape(src) for src in IMAGE_SRC.findall(page.text)]
        images = list(
            pool.map(lambda src: requests.get(src, cookies=session.cookies, timeout=30), sources)
        )
    assert sources, f"no images on {url}"
    for image in images:
        image.raise_for_status()
        assert image.headers["Content-Type"] == "image/svg+xml", image.url
    return watch.seconds


def report_page(base: str, session_key: str, units: int) -> dict:
    """The EDA report of one unit-month: the page's HTML alone, and the page with all its chart
    images fetched in parallel over up to BROWSER_CONNECTIONS connections; each cold (first
    request for that unit and month) and warm (repeated).

    The two cold measurements use different months of the same units, so neither finds what
    the other cached.
    """
    session = requests.Session()
    session.cookies.set("sessionid", session_key, domain="127.0.0.1")
    session.get(f"{base}/api/v1/units/{unit_muid(0)}/").raise_for_status()  # warm the worker
    cold, warm, cold_all, warm_all = [], [], [], []
    with ThreadPoolExecutor(max_workers=BROWSER_CONNECTIONS) as pool:
        for index in range(1, min(units, 6)):
            url = f"{base}/analysis/{unit_muid(index)}/?{MONTH}"
            with Stopwatch() as watch:
                session.get(url).raise_for_status()
            cold.append(watch.seconds)
            for _ in range(5):
                with Stopwatch() as watch:
                    session.get(url).raise_for_status()
                warm.append(watch.seconds)
            url = f"{base}/analysis/{unit_muid(index)}/?{OTHER_MONTH}"
            cold_all.append(_page_with_images(session, url, pool))
            warm_all += [_page_with_images(session, url, pool) for _ in range(5)]
    return {
        "cold": summary_ms(cold),
        "warm": summary_ms(warm),
        "with_charts_cold": summary_ms(cold_all),
        "with_charts_warm": summary_ms(warm_all),
        "load": load_average(),
    }


def run(
    *, database: str, units: int, repeat: int, wrk_seconds: int, connections: int, workers: int
) -> dict:
    migrate(database)
    token, session_key = prepare(database)
    results: dict = {"database": database, "queries": {}}
    paths = queries(units)
    statements = {name: captured_sql(path, token) for name, path in paths.items()}
    with tempfile.TemporaryDirectory(prefix="exnaton-bench-") as scratch:
        process, base = start_gunicorn(database, Path(scratch), workers)
        try:
            session = requests.Session()
            session.headers["Authorization"] = f"Token {token}"
            for name, path in paths.items():
                load = load_average()
                api = summary_ms(time_api(session, base + path, repeat))
                sql_seconds, plan = time_sql(database, statements[name], repeat)
                sql = summary_ms(sql_seconds)
                results["queries"][name] = {
                    "path": path,
                    "api": api,
                    "sql": sql,
                    "ratio": round(api["median_ms"] / sql["median_ms"], 2),
                    "target_ms": round(1.5 * sql["median_ms"] + 10, 1),
                    "load": load,
                    "statements": statements[name],
                    "explain": plan,
                }
            aggregate = [
                f"/api/v1/readings/aggregate/?muid={unit_muid(i)}&interval=day&agg=sum"
                f"&tz=Europe/Zurich&{MONTH}"
                for i in range(min(units, 50))
            ]
            readings = [
                f"/api/v1/readings/?muid={unit_muid(i)}&start=2023-06-0{1 + i % 7}"
                "&end=2023-06-09&page_size=500"
                for i in range(min(units, 50))
            ]
            results["wrk"] = {
                "aggregate (day sums, 1 unit-month)": run_wrk(
                    base, aggregate, token, seconds=wrk_seconds, connections=connections
                ),
                "readings (1 page of 500)": run_wrk(
                    base, readings, token, seconds=wrk_seconds, connections=connections
                ),
            }
            results["report_page"] = report_page(base, session_key, units)
        finally:
            process.terminate()
            process.wait(timeout=30)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="exnaton_bench_q35m")
    parser.add_argument("--units", type=int, default=1000, help="units in the database")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--wrk-seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = run(**{k: v for k, v in vars(args).items() if k != "json"})
    print_results(results, args.json)


if __name__ == "__main__":
    main()
