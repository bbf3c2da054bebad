"""Helpers for the deployment tests: the production environment, PostgreSQL on loopback and
subprocesses that start the project the way the container does."""

import os
import secrets
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2
import pytest
from django.conf import settings as django_settings

PROJECT = Path(django_settings.BASE_DIR)
VENV_BIN = Path(sys.executable).parent
POSTGRES = "postgres://postgres@127.0.0.1:5432"

# The host the production environment of these tests serves, as the ingress would forward it.
PUBLIC_HOST = "exnaton.example.com"

# Variables that configure the project; a subprocess gets only those its test gives it, so that
# the defaults of pytest-env (pyproject.toml) or the caller's shell do not leak in.
_PROJECT_PREFIXES = (
    "DJANGO_",
    "DATABASE_URL",
    "METERS_",
    "GUNICORN_",
    "WEB_CONCURRENCY",
    "CELERY_",
    "METRICS_",
    "WORKER_METRICS_",
    "PROMETHEUS_",
)
_PROJECT_NAMES = {"PORT", "MIGRATE_ON_START", "DB_WAIT_TIMEOUT", "MIGRATIONS_WAIT_TIMEOUT"}


def clean_environment(**variables: str) -> dict[str, str]:
    """This process's environment without the project's settings, plus `variables`."""
    base = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_PROJECT_PREFIXES) and name not in _PROJECT_NAMES
    }
    # The entrypoint calls `python` and `gunicorn` as the image's PATH finds them.
    base["PATH"] = f"{VENV_BIN}{os.pathsep}{base.get('PATH', '')}"
    return {**base, **variables}


def production_environment(**variables: str) -> dict[str, str]:
    """The environment of a production container behind a TLS-terminating proxy."""
    return clean_environment(
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS=PUBLIC_HOST,
        DJANGO_CSRF_TRUSTED_ORIGINS=f"https://{PUBLIC_HOST}",
        DJANGO_SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto,https",
        **variables,
    )


def run(
    args: list[str], env: Mapping[str, str], timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run a command in the project directory, capturing its output as text."""
    return subprocess.run(  # noqa: S603 - fixed commands of this project
        args,
        cwd=PROJECT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def manage(*args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess:
    return run([sys.executable, "manage.py", *args], env)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def postgres_reachable() -> bool:
    try:
        psycopg2.connect(f"{POSTGRES}/postgres", connect_timeout=3).close()
    except psycopg2.OperationalError:
        return False
    return True


def _admin(sql: str) -> None:
    connection = psycopg2.connect(f"{POSTGRES}/postgres", connect_timeout=5)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    finally:
        connection.close()


@pytest.fixture(scope="module")
def throwaway_database() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database on loopback, dropped afterwards."""
    if not postgres_reachable():
        pytest.skip(f"PostgreSQL is not reachable at {urlsplit(POSTGRES).netloc}")
    name = f"exnaton_deploy_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
