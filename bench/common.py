"""What every benchmark shares: the bench databases, Django set-up, timing statistics, the
machine's description and its load average (recorded with every measurement)."""

import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.feeds import START

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
# Every database a benchmark creates is named exnaton_bench*; the server is the local one.
PG_SERVER = os.environ.get("BENCH_PG_SERVER", "postgres://postgres@127.0.0.1:5432")
PSQL = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres"]


def db_url(name: str) -> str:
    return f"{PG_SERVER}/{name}"


def psql(database: str, sql: str, *, capture: bool = False) -> str:
    """Run SQL through psql (the database's own client)."""
    done = subprocess.run(
        [*PSQL, "-d", database, "-tA", "-c", sql],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() if capture else ""


def recreate_database(name: str, *, template: str | None = None) -> None:
    """An empty database `name`, or a copy of `template` (which nobody may be connected to)."""
    assert name.startswith("exnaton_bench"), name
    psql("postgres", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    psql("postgres", f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))


def drop_database(name: str) -> None:
    assert name.startswith("exnaton_bench"), name
    psql("postgres", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def django_env(database: str, **extra: str) -> dict[str, str]:
    """The environment of a Django process on a bench database, production-like settings."""
    env = {
        **os.environ,
        "DATABASE_URL": db_url(database),
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789",
        # Loopback speaks plain HTTP; everything else stays as in production.
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_LOG_LEVEL": "WARNING",
        **extra,
    }
    return env


def migrate(database: str, *target: str) -> None:
    """Apply the migrations (up to `target`, an app and a migration name, when given).

    All of them: then also the monthly partitions of the readings from the bench feeds' first
    month on, as the daily `create_partitions` keeps them in production, so that the bench
    readings go to their months' partitions, not through the DEFAULT one.
    """
    for command in [["migrate", *target, "--noinput"]] + (
        [] if target else [["create_partitions", "--since", f"{START:%Y-%m}"]]
    ):
        subprocess.run(
            [PYTHON, "manage.py", *command, "-v", "0"],
            cwd=ROOT,
            env=django_env(database),
            check=True,
        )


def rebuild_rollups(database: str, *, restart: bool = False) -> None:
    """`rebuild_rollups` (`restart`: all of them, for readings written around the ingest)."""
    subprocess.run(
        [PYTHON, "manage.py", "rebuild_rollups", "--chunk", "50", "-v", "0"]
        + (["--restart"] if restart else []),
        cwd=ROOT,
        env=django_env(database),
        check=True,
    )


def setup_django(database: str) -> None:
    """Configure Django in this process on `database` (call before importing models)."""
    os.environ.update(django_env(database))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exnaton.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def machine() -> dict[str, str]:
    with open("/proc/meminfo") as meminfo:
        total_kb = int(meminfo.readline().split()[1])
    return {
        "nproc": str(os.cpu_count()),
        "memory": f"{total_kb / 1024 / 1024:.1f} GiB",
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "postgresql": psql("postgres", "SHOW server_version", capture=True),
    }


def _cpu_model() -> str:
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(seconds: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(seconds) * 1000, 2),
        "p95_ms": round(percentile(seconds, 0.95) * 1000, 2),
        "n": len(seconds),
    }


class Stopwatch:
    def __enter__(self) -> "Stopwatch":
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.started


def run_and_print(run, args, **options) -> None:
    """Run a benchmark with the command line's options (all but --json, `options` overriding),
    time it, and print its results, written to --json when given."""
    started = time.monotonic()
    results = run(**({k: v for k, v in vars(args).items() if k != "json"} | options))
    results["total_s"] = round(time.monotonic() - started, 1)
    print_results(results, args.json)


def print_results(results: dict, path: Path | None) -> None:
    """Print the results as JSON, and write them to `path` when given."""
    text = json.dumps(results, indent=2, default=str)
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    print(text)


_COUNTS = re.compile(r"(received|inserted|updated|unchanged|rejected)=(\d+)")


def run_ingest(database: str, arguments: list[str], **environment: str) -> dict:
    """One `ingest_meters` in its own process: wall time, summed counts, peak RSS."""
    load = load_average()
    with tempfile.TemporaryFile() as output, Stopwatch() as watch:
        process = subprocess.Popen(
            [PYTHON, "manage.py", "ingest_meters", *arguments],
            cwd=ROOT,
            env=django_env(database, **environment),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(process.pid, 0)
        output.seek(0)
        text = output.read().decode()
    if os.waitstatus_to_exitcode(status):
        raise RuntimeError(f"ingest_meters failed: {text[-2000:]}")
    counts: dict[str, int] = {}
    for key, value in _COUNTS.findall(text):
        counts[key] = counts.get(key, 0) + int(value)
    readings = counts["inserted"] + counts["updated"] + counts["unchanged"]
    sources = text.count(" received=")
    return {
        **counts,
        "output": text.strip().splitlines()[0] if text.strip() else "",
        "sources": sources,
        "readings": readings,
        "seconds": round(watch.seconds, 2),
        "readings_per_s": round(readings / watch.seconds),
        "sources_per_s": round(sources / watch.seconds, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # KiB on Linux
        "load": load,
    }


def copy_limit(database: str, csv_path: Path) -> dict:
    """psql's \\copy of the CSV into an empty table identical to meters_reading."""
    psql(
        database,
        "DROP TABLE IF EXISTS bench_copy; "
        "CREATE TABLE bench_copy (LIKE meters_reading INCLUDING ALL)",
    )
    load = load_average()
    with Stopwatch() as watch:
        psql(
            database,
            f"\\copy bench_copy (channel_id, timestamp, value, quality, measurement) "
            f"FROM '{csv_path}' WITH (FORMAT csv)",
        )
    rows = int(psql(database, "SELECT count(*) FROM bench_copy", capture=True))
    psql(database, "DROP TABLE bench_copy")
    return {
        "readings": rows,
        "seconds": round(watch.seconds, 2),
        "readings_per_s": round(rows / watch.seconds),
        "load": load,
    }
