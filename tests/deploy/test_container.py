"""The app started the way its container starts it: deploy/entrypoint.sh with production
settings, against a throwaway PostgreSQL database on loopback, gunicorn serving on a free
loopback port. Requests come as the ingress forwards them (Host, X-Forwarded-Proto: https)
unless a test says otherwise.
"""

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from django.urls import Resolver404, resolve

from tests.conftest import CHALLENGE_UNITS
from tests.deploy.conftest import (
    PROJECT,
    PUBLIC_HOST,
    free_port,
    manage,
    production_environment,
    run,
)

BEHIND_PROXY = {"Host": PUBLIC_HOST, "X-Forwarded-Proto": "https"}
# Bounds on waiting for the server, not assertions about its speed.
START_ATTEMPTS = 120
STOP_TIMEOUT = 30


@dataclass
class Container:
    url: str
    environment: dict[str, str]
    static_root: Path
    log: Path
    ingest: subprocess.CompletedProcess

    def get(self, path: str, **headers: str) -> requests.Response:
        return requests.get(
            self.url + path,
            headers={**BEHIND_PROXY, **headers},
            allow_redirects=False,
            timeout=30,
        )

    def log_records(self) -> list[dict]:
        lines = self.log.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the entrypoint's process group (gunicorn and its workers), as on `docker stop`."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_until_serving(process: subprocess.Popen, url: str, log: Path) -> None:
    for _ in range(START_ATTEMPTS):
        if process.poll() is not None:
            pytest.fail(f"the entrypoint exited with {process.returncode}:\n{log.read_text()}")
        try:
            requests.get(f"{url}/healthz", headers=BEHIND_PROXY, timeout=5)
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.5)
        else:
            return
    pytest.fail(f"gunicorn did not answer:\n{log.read_text()}")


@pytest.fixture(scope="module")
def container(throwaway_database, tmp_path_factory):
    """gunicorn serving the project as the image does, after `ingest` ran once."""
    workdir = tmp_path_factory.mktemp("container")
    port = free_port()
    environment = production_environment(
        DATABASE_URL=throwaway_database,
        DJANGO_STATIC_ROOT=str(workdir / "staticfiles"),
        GUNICORN_BIND=f"127.0.0.1:{port}",
        PORT=str(port),
        WEB_CONCURRENCY="2",
        GUNICORN_THREADS="2",
        DB_WAIT_TIMEOUT="30",
        MPLCONFIGDIR=str(workdir / "matplotlib"),
        # The live feed is out of reach here: fail fast and read the shipped copy.
        METERS_SOURCE_BASE_URL=f"http://127.0.0.1:{free_port()}",
        METERS_HTTP_RETRIES="0",
    )
    # As in the image build: static files collected before the container starts.
    collected = manage("collectstatic", "--noinput", env=environment)
    assert collected.returncode == 0, collected.stderr

    log = workdir / "web.log"
    with log.open("w") as output:
        process = subprocess.Popen(  # noqa: S603 - the project's own entrypoint
            [str(PROJECT / "deploy" / "entrypoint.sh"), "web"],
            cwd=PROJECT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_serving(process, url, log)
        ingest = run(
            ["deploy/entrypoint.sh", "ingest", "--fallback-dir", "data/challenge"], environment
        )
        yield Container(url, environment, workdir / "staticfiles", log, ingest)
    finally:
        _stop(process)


def _routed(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


def test_healthz_answers_a_probe_over_plain_http(container):
    response = container.get("/healthz", **{"X-Forwarded-Proto": "http"})

    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readyz_reports_the_database_reachable(container):
    response = container.get("/readyz")

    assert (response.status_code, response.json()) == (200, {"status": "ok", "database": "ok"})


def test_the_image_healthcheck_passes(container):
    result = run([sys.executable, "deploy/healthcheck.py"], container.environment)

    assert result.returncode == 0, result.stderr


def test_the_entrypoint_applied_every_migration(container):
    result = manage("migrate", "--check", env=container.environment)

    assert result.returncode == 0, result.stdout


def test_ingest_runs_as_its_own_command_through_the_entrypoint(container):
    assert container.ingest.returncode == 0, container.ingest.stdout + container.ingest.stderr


def test_static_files_are_served_under_hashed_names_with_far_future_caching(container):
    manifest = json.loads((container.static_root / "staticfiles.json").read_text())
    hashed = manifest["paths"]["admin/css/base.css"]

    response = container.get(f"/static/{hashed}")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/css")
    assert "immutable" in response.headers["Cache-Control"]


def test_static_files_are_served_compressed_to_clients_that_accept_it(container):
    response = container.get("/static/admin/css/base.css", **{"Accept-Encoding": "gzip"})

    assert response.headers["Content-Encoding"] == "gzip"


def test_the_admin_login_page_renders_behind_the_tls_proxy(container):
    manifest = json.loads((container.static_root / "staticfiles.json").read_text())

    response = container.get("/admin/login/")

    assert response.status_code == 200
    assert f"/static/{manifest['paths']['admin/css/base.css']}" in response.text


def test_pages_asked_for_over_plain_http_are_redirected_to_https(container):
    response = container.get("/admin/login/", **{"X-Forwarded-Proto": "http"})

    assert response.status_code == 301
    assert response.headers["Location"] == f"https://{PUBLIC_HOST}/admin/login/"


def test_responses_over_https_carry_hsts(container):
    response = container.get("/admin/login/")

    assert response.headers["Strict-Transport-Security"] == (
        "max-age=3600; includeSubDomains; preload"
    )


def test_the_csrf_cookie_is_sent_only_over_https(container):
    response = container.get("/admin/login/")

    assert "Secure" in response.headers["Set-Cookie"]


def test_a_host_that_is_not_allowed_is_refused(container):
    response = container.get("/admin/login/", Host="attacker.example")

    assert response.status_code == 400


def test_gunicorn_logs_each_request_as_a_json_line_on_stdout(container):
    container.get("/healthz")

    assert any(
        record.get("logger") == "gunicorn.access" and "GET /healthz" in record["message"]
        for record in container.log_records()
    )


def test_the_units_api_lists_the_ingested_units(container):
    if not _routed("/api/v1/units/"):
        pytest.skip("/api/v1/units/ is not routed in this tree yet")
    environment = {**container.environment, "DJANGO_SUPERUSER_PASSWORD": secrets.token_urlsafe()}
    created = manage(
        "createsuperuser", "--noinput", "--username", "ops", "--email", "", env=environment
    )
    assert created.returncode == 0, created.stderr
    token = manage("drf_create_token", "ops", env=container.environment).stdout.split()[2]

    response = container.get("/api/v1/units/", Authorization=f"Token {token}")

    assert response.status_code == 200
    assert {str(unit.muid) for unit in CHALLENGE_UNITS} <= set(_strings(response.json()))


def test_the_analysis_page_sends_an_anonymous_visitor_to_the_login_page(container):
    if not _routed("/analysis/"):
        pytest.skip("/analysis/ is not routed in this tree yet")

    response = container.get("/analysis/")
    login = container.get("/accounts/login/")

    assert response.status_code == 302
    assert response.headers["Location"] == "/accounts/login/?next=/analysis/"
    assert login.status_code == 200
    assert login.headers["Content-Type"].startswith("text/html")


def _strings(value) -> list[str]:
    """Every string anywhere in a decoded JSON document."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []
