"""A bounded load test on loopback: gunicorn with production settings, wrk, several users.

    python loadtest/run.py [--seconds 60] [--users 8] [--connections 16]   (or: make loadtest)

It creates a throwaway PostgreSQL database on 127.0.0.1, migrates it, ingests the two
challenge units from data/challenge/, creates the users (each granted one unit) with API tokens,
starts `deploy/entrypoint.sh web` (gunicorn, DEBUG off) on a free loopback port, warms up,
then runs wrk with loadtest/mix.lua while it samples the resident memory of the gunicorn
processes every second. It prints the figures as JSON (docs/RELIABILITY.md keeps the last
ones), stops gunicorn and drops the database. Exit 1 when any request failed.
"""

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
SERVER = "postgres://postgres@127.0.0.1:5432"
MUIDS = ["95ce3367-cbce-4a4d-bbe3-da082831d7bd", "1db7649e-9342-4e04-97c7-f0ebb88ed1f8"]
# Creates the users, grants user i the unit i modulo the units, prints their tokens as JSON.
USERS_SCRIPT = """
import json
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from meters.models import Unit
units = list(Unit.objects.order_by("muid"))
muids = {muids!r}
tokens = []
for i in range({users}):
    user = get_user_model().objects.create_user(f"load{{i}}")
    user.granted_units.set([u for u in units if str(u.muid) == muids[i % len(muids)]])
    tokens.append(Token.objects.create(user=user).key)
print(json.dumps(tokens))
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run(command: list[str], *, env: dict[str, str]) -> str:
    """Run a command to its end; its output, or exit with its errors."""
    result = subprocess.run(  # noqa: S603 - fixed commands, on loopback
        command, cwd=PROJECT, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode:
        sys.exit(f"{' '.join(command[:2])} failed:\n{result.stdout[-2000:]}\n{result.stderr}")
    return result.stdout


def admin(sql: str) -> None:
    run([shutil.which("psql") or "psql", f"{SERVER}/postgres", "-qc", sql], env=dict(os.environ))


def manage(*args: str, env: dict[str, str]) -> str:
    return run([sys.executable, "manage.py", *args], env=env)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def gunicorn_pids(root: int) -> list[int]:
    """The entrypoint's process and every descendant (gunicorn's master and workers)."""
    pids, pending = [], [root]
    while pending:
        pid = pending.pop()
        pids.append(pid)
        try:
            for task in Path(f"/proc/{pid}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
    return pids


class MemorySampler(threading.Thread):
    """Every second: the summed RSS (MiB) of the gunicorn processes."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root, self.samples, self.stop = root, [], threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            total = 0
            for pid in gunicorn_pids(self.root):
                with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                    total += rss_kib(pid)
            self.samples.append(round(total / 1024, 1))


def wrk(url: str, *, seconds: int, connections: int, env: dict[str, str]) -> dict:
    script = str(PROJECT / "loadtest" / "mix.lua")
    command = [shutil.which("wrk"), "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"]
    output = run([*command, "-s", script, url], env=env)
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--database", default=f"exnaton_loadtest_{os.getpid()}")
    options = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")

    work = Path(tempfile.mkdtemp(prefix="exnaton-loadtest-"))
    port = free_port()
    env = {
        # The entrypoint runs `python` and `gunicorn` from PATH: this virtualenv first.
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "HOME": os.environ.get("HOME", str(work)),
        "DATABASE_URL": f"{SERVER}/{options.database}",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        # Plain HTTP on loopback: no TLS proxy in front, so no redirect to HTTPS.
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_STATIC_ROOT": str(work / "static"),
        "MPLCONFIGDIR": str(work / "matplotlib"),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "GUNICORN_THREADS": "4",
        # Workers are never recycled during the run, so that a leak would show in the samples.
        "GUNICORN_MAX_REQUESTS": "1000000",
        # The load test measures serving; the throttle has its own tests (test_limits.py).
        "API_THROTTLE_USER": "",
        "METERS_SOURCE_BASE_URL": f"http://127.0.0.1:{free_port()}",
        "METERS_HTTP_RETRIES": "0",
    }
    admin(f'CREATE DATABASE "{options.database}"')
    process = None
    try:
        manage("migrate", "--noinput", env=env)
        manage("collectstatic", "--noinput", env=env)
        manage("ingest_meters", "--fallback-dir", "data/challenge", env=env)
        script = USERS_SCRIPT.format(muids=MUIDS, users=options.users)
        tokens = json.loads(manage("shell", "-c", script, env=env).strip().splitlines()[-1])
        log = (work / "gunicorn.log").open("w")
        process = subprocess.Popen(  # noqa: S603 - the project's own entrypoint
            [str(PROJECT / "deploy" / "entrypoint.sh"), "web"],
            cwd=PROJECT,
            env={**env, "MIGRATE_ON_START": "0"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=2)  # noqa: S310 - loopback
                break
            except OSError:
                time.sleep(0.5)
        else:
            sys.exit(f"gunicorn did not answer:\n{(work / 'gunicorn.log').read_text()[-3000:]}")
        wrk_env = {**os.environ, "TOKENS": ",".join(tokens), "MUIDS": ",".join(MUIDS)}
        wrk(url, seconds=options.warmup, connections=options.connections, env=wrk_env)
        sampler = MemorySampler(process.pid)
        sampler.start()
        result = wrk(url, seconds=options.seconds, connections=options.connections, env=wrk_env)
        sampler.stop.set()
        sampler.join()
        samples = sampler.samples
        tenth = max(1, len(samples) // 10)
        result |= {
            "users": options.users,
            "connections": options.connections,
            "gunicorn": "2 workers x 4 threads, DEBUG off, PostgreSQL on loopback",
            "requests_per_second": round(result["requests"] / result["seconds"], 1),
            "rss_mib": {
                "first_tenth_mean": round(statistics.mean(samples[:tenth]), 1),
                "last_tenth_mean": round(statistics.mean(samples[-tenth:]), 1),
                "min": min(samples),
                "max": max(samples),
                "samples": len(samples),
                "every_10s": samples[::10],
            },
        }
        print(json.dumps(result, indent=2))
        return 1 if any(result["errors"].values()) else 0
    finally:
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)
        admin(f'DROP DATABASE IF EXISTS "{options.database}"')
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
