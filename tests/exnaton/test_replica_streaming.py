"""Reads from a real PostgreSQL streaming replica: the API and the report pages read it, the rest
reads and writes the primary.

The module starts a primary cluster and a streaming replica of it (initdb, `pg_basebackup -R`)
with PostgreSQL 15's binaries under a temporary directory, and gunicorn serving the project
with DATABASE_URL on the primary and DATABASE_REPLICA_URL on the replica. Each test pauses the
replica's replay (`pg_wal_replay_pause()`), so that what it writes on the primary is visibly
absent from the replica, and says which side each entry point then reads.
"""

import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg2
import pytest
import requests

from meters.api.views import READING_FIELDS
from tests.conftest import CHALLENGE_UNITS, CONSUMER
from tests.deploy.conftest import PROJECT, VENV_BIN, clean_environment, free_port, run
from tests.factories import feed_document, feed_series

PG_BIN = Path("/usr/lib/postgresql/15/bin")
DATABASE = "exnaton"
PASSWORD = "replica-test-password"
READINGS = 96  # one day of the units these tests write


def as_postgres(args: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: as root, run them as the postgres user."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def pg(tool: str, *args: str) -> None:
    result = subprocess.run(  # noqa: S603 - PostgreSQL's own tools with arguments made here
        as_postgres([str(PG_BIN / tool), *args]), capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"{tool} failed: {result.stdout}{result.stderr}"


@dataclass(frozen=True)
class Cluster:
    directory: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def start(self, socket_dir: Path) -> None:
        options = f"-p {self.port} -k {socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = self.directory.with_suffix(".log")
        pg(
            "pg_ctl",
            "start",
            "-w",
            "-t",
            "60",
            "-D",
            str(self.directory),
            "-l",
            str(log),
            "-o",
            options,
        )

    def stop(self) -> None:
        subprocess.run(  # noqa: S603 - PostgreSQL's own tool
            as_postgres(
                [str(PG_BIN / "pg_ctl"), "stop", "-m", "immediate", "-D", str(self.directory)]
            ),
            capture_output=True,
            check=False,
        )

    def query(self, sql: str, params: tuple = (), database: str = DATABASE) -> list[tuple]:
        connection = psycopg2.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname=database, connect_timeout=5
        )
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall() if cursor.description else []
        finally:
            connection.close()

    def value(self, sql: str, params: tuple = ()):
        return self.query(sql, params)[0][0]


@dataclass(frozen=True)
class Site:
    """The project served by gunicorn over a primary and its replica."""

    primary: Cluster
    replica: Cluster
    base_url: str
    environment: dict[str, str]
    documents: Path
    token: str

    def manage(self, *args: str, **variables: str) -> subprocess.CompletedProcess:
        result = run(
            [sys.executable, "manage.py", *args], {**self.environment, **variables}, timeout=300
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    def get(
        self, path: str, session: requests.Session | None = None, token: str | None = None
    ) -> requests.Response:
        """GET as a browser's session, or else with an API token (by default the staff's)."""
        headers = {} if session else {"Authorization": f"Token {token or self.token}"}
        return (session or requests).get(f"{self.base_url}{path}", headers=headers, timeout=60)

    def new_staff(self, username: str) -> str:
        """A staff user with the password PASSWORD; returns their new API token."""
        self.manage("createsuperuser", "--noinput", "--username", username, "--email", "s@x.ch")
        return re.search(r"token (\w+)", self.manage("drf_create_token", username).stdout)[1]

    def new_unit(self) -> uuid.UUID:
        """A unit with a day of readings in a document the ingest can read; nothing stored."""
        muid = uuid.uuid4()
        records = feed_series(muid, datetime(2023, 3, 1, tzinfo=UTC), READINGS)
        (self.documents / f"{muid}.json").write_bytes(feed_document(records))
        return muid

    def ingest(self, muid: uuid.UUID) -> None:
        self.manage("ingest_meters", str(self.documents / f"{muid}.json"))

    def stored_on(self, cluster: Cluster, muid: uuid.UUID) -> bool:
        return cluster.value("SELECT count(*) FROM meters_unit WHERE muid = %s", (str(muid),)) == 1

    @contextmanager
    def replay_paused(self) -> Iterator[None]:
        """The replica holds still: what is written on the primary meanwhile is not on it."""
        self.replica.query("SELECT pg_wal_replay_pause()")
        wait_until(lambda: self.replica.value("SELECT pg_get_wal_replay_pause_state()") == "paused")
        try:
            yield
        finally:
            self.replica.query("SELECT pg_wal_replay_resume()")
            self.wait_for_the_replica()

    def wait_for_the_replica(self) -> None:
        """Until the replica has replayed everything the primary has written so far."""
        lsn = self.primary.value("SELECT pg_current_wal_lsn()::text")
        wait_until(
            lambda: self.replica.value("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,))
        )


def wait_until(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting after {timeout:g}s"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def clusters() -> Iterator[tuple[Cluster, Cluster]]:
    """A primary and its streaming replica on free loopback ports, removed afterwards."""
    missing = [
        tool for tool in ("initdb", "pg_ctl", "pg_basebackup") if not (PG_BIN / tool).exists()
    ]
    if missing:
        pytest.fail(f"PostgreSQL 15's {', '.join(missing)} not found in {PG_BIN}", pytrace=False)
    with ExitStack() as cleanup:
        # Under /tmp, not pytest's per-user directory, which the postgres user cannot enter.
        root = Path(tempfile.mkdtemp(prefix="exnaton-replica-"))
        cleanup.callback(shutil.rmtree, root, ignore_errors=True)
        if os.geteuid() == 0:
            shutil.chown(root, user="postgres")
        primary = Cluster(root / "primary", free_port())
        pg("initdb", "-D", str(primary.directory), "-U", "postgres", "-A", "trust", "--no-sync")
        primary.start(root)
        cleanup.callback(primary.stop)
        # PostgreSQL 15's defaults (wal_level replica, max_wal_senders 10) and initdb's
        # pg_hba.conf (replication from loopback, trust) are all a streaming replica needs.
        primary.query(f"CREATE DATABASE {DATABASE}", database="postgres")
        replica = Cluster(root / "replica", free_port())
        pg(
            "pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
            "-D", str(replica.directory), "-R", "-X", "stream", "--checkpoint=fast",
        )  # fmt: skip
        replica.start(root)
        cleanup.callback(replica.stop)
        assert replica.value("SELECT pg_is_in_recovery()") is True
        yield primary, replica


@pytest.fixture(scope="module")
def site(clusters) -> Iterator[Site]:
    """Migrated, with the two challenge units and a staff user, served by gunicorn."""
    primary, replica = clusters
    port = free_port()
    environment = clean_environment(
        DATABASE_URL=primary.url,
        DATABASE_REPLICA_URL=replica.url,
        DJANGO_SECRET_KEY="replica-test-secret-key-" + uuid.uuid4().hex,
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_SECURE_SSL_REDIRECT="0",
        DJANGO_SECURE_COOKIES="0",
        DJANGO_STATICFILES_BACKEND="django.contrib.staticfiles.storage.StaticFilesStorage",
        DJANGO_LOG_FORMAT="plain",
        # A polled unit's source: nothing listens there, so its document is read instead.
        METERS_SOURCE_BASE_URL=f"http://127.0.0.1:{free_port()}",
        METERS_HTTP_RETRIES="0",
        DJANGO_SUPERUSER_PASSWORD=PASSWORD,
    )
    with ExitStack() as cleanup:
        documents = Path(tempfile.mkdtemp(prefix="exnaton-replica-documents-"))
        cleanup.callback(shutil.rmtree, documents, ignore_errors=True)
        site = Site(primary, replica, f"http://127.0.0.1:{port}", environment, documents, "")
        site.manage("migrate", "--noinput")
        site.manage("ingest_meters", *(str(unit.path) for unit in CHALLENGE_UNITS))
        site = dataclasses.replace(site, token=site.new_staff("staff"))
        site.wait_for_the_replica()

        log = (documents / "gunicorn.log").open("w")
        cleanup.callback(log.close)
        server = subprocess.Popen(  # noqa: S603 - the project's own server
            [str(VENV_BIN / "gunicorn"), "exnaton.wsgi:application", "--bind",
             f"127.0.0.1:{port}", "--workers", "1", "--threads", "4"],
            cwd=PROJECT, env=environment, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        cleanup.callback(_stop, server)
        wait_until(lambda: _answers(f"{site.base_url}/healthz") or server.poll() is not None)
        assert server.poll() is None, (documents / "gunicorn.log").read_text()
        yield site


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=10).status_code == 200
    except requests.RequestException:  # not listening yet, or still loading the application
        return False


def _stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def logged_in(site: Site, username: str, password: str = PASSWORD) -> requests.Session:
    """A browser's session after logging in through the login page."""
    session = requests.Session()
    session.get(f"{site.base_url}/accounts/login/", timeout=30).raise_for_status()
    response = session.post(
        f"{site.base_url}/accounts/login/",
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"Referer": f"{site.base_url}/accounts/login/"},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 302, response.text
    return session


def api_muids(site: Site, session: requests.Session | None = None) -> set[str]:
    response = site.get("/api/v1/units/", session)
    assert response.status_code == 200, response.text
    return {unit["muid"] for unit in response.json()}


def test_the_api_and_the_report_pages_read_the_replica(site):
    muid = site.new_unit()
    with site.replay_paused():
        site.ingest(muid)
        assert site.stored_on(site.primary, muid)
        assert not site.stored_on(site.replica, muid)

        assert api_muids(site) == {str(unit.muid) for unit in CHALLENGE_UNITS}
        assert site.get(f"/api/v1/units/{muid}/").status_code == 404
        assert site.get(f"/api/v1/readings/?muid={muid}").json()["results"] == []
        aggregate = site.get(f"/api/v1/readings/aggregate/?muid={muid}&interval=day")
        assert aggregate.json()["buckets"] == []
        # The CSV export runs its query while gunicorn sends it, after the view returned.
        csv = site.get(f"/api/v1/readings/csv/?muid={muid}").text.splitlines()
        assert len(csv) == 1  # the header
        staff = logged_in(site, "staff")
        assert site.get(f"/analysis/{muid}/", staff).status_code == 404
        assert str(muid) not in site.get("/analysis/", staff).text

    assert site.get(f"/api/v1/units/{muid}/").status_code == 200
    assert len(site.get(f"/api/v1/readings/csv/?muid={muid}").text.splitlines()) == 1 + READINGS
    assert site.get(f"/analysis/{muid}/", staff).status_code == 200


def test_sums_and_reports_are_computed_from_the_replicas_readings(site):
    staff = logged_in(site, "staff")
    aggregate = f"/api/v1/readings/aggregate/?muid={CONSUMER.muid}&interval=month&agg=sum&tz=UTC"
    with site.replay_paused():
        # Every reading of the consumer changed on the primary only, and the channels' state,
        # which keys the cached reports, with them.
        site.primary.query(
            "UPDATE meters_reading SET value = value + 1; "
            "UPDATE meters_channel SET data_changed_at = now()"
        )
        try:
            sums = [bucket["value"] for bucket in site.get(aggregate).json()["buckets"]]
            csv = site.get(f"/api/v1/readings/csv/?muid={CONSUMER.muid}").text.splitlines()
            page = site.get(f"/analysis/{CONSUMER.muid}/", staff)
        finally:
            site.primary.query("UPDATE meters_reading SET value = value - 1")

    assert [Decimal(value) for value in sums] == [CONSUMER.total]
    value = READING_FIELDS.index("value")
    assert sum(Decimal(line.split(",")[value]) for line in csv[1:]) == CONSUMER.total
    assert f"{CONSUMER.total:.3f} kWh" in page.text


def test_the_admin_reads_the_primary(site):
    muid = site.new_unit()
    staff = logged_in(site, "staff")
    with site.replay_paused():
        site.ingest(muid)

        assert str(muid) in site.get("/admin/meters/unit/", staff).text
        assert site.get(f"/admin/meters/unit/{muid}/change/", staff).status_code == 200


def test_a_login_and_a_token_made_a_moment_ago_work_at_once(site):
    with site.replay_paused():
        token = site.new_staff("new")
        session = logged_in(site, "new")  # writes its session on the primary

        assert api_muids(site, session) >= {str(CONSUMER.muid)}
        assert site.get("/analysis/", session).status_code == 200
        assert site.get("/api/v1/units/", token=token).status_code == 200


def test_a_logout_and_a_deleted_token_take_effect_at_once(site):
    token = site.new_staff("leaving")
    session = logged_in(site, "leaving")
    site.wait_for_the_replica()
    with site.replay_paused():
        logout = session.post(
            f"{site.base_url}/accounts/logout/",
            data={"csrfmiddlewaretoken": session.cookies["csrftoken"]},
            headers={"Referer": f"{site.base_url}/"},
            allow_redirects=False,
            timeout=30,
        )
        assert logout.status_code == 302
        site.primary.query("DELETE FROM authtoken_token WHERE key = %s", (token,))
        # Both are still on the replica: read from it, they would still let these in.
        assert site.replica.value("SELECT count(*) FROM authtoken_token WHERE key = %s", (token,))

        assert site.get("/api/v1/units/", session).status_code in (401, 403)
        assert site.get("/api/v1/units/", token=token).status_code == 401


def test_the_poll_schedule_reads_the_primary(site):
    muid = site.new_unit()
    site.manage("register_units", str(muid))
    site.wait_for_the_replica()
    with site.replay_paused():
        first = site.manage("ingest_meters", "--fallback-dir", str(site.documents)).stdout
        assert f"unit={muid}" in first
        assert f"inserted={READINGS}" in first

        # Polled a moment ago on the primary; on the replica it is still due.
        second = site.manage("ingest_meters", "--fallback-dir", str(site.documents)).stdout

    assert str(muid) not in second
    assert "no registered unit is due" in second
