"""Which database each read and write goes to when a replica is configured (exnaton/replica.py),
and the settings that install it; tests/exnaton/test_replica_streaming.py runs it against a
real replica."""

import sys

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, User
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.core.cache.backends.db import DatabaseCache
from django.db import connections, transaction
from django.http import HttpResponse, StreamingHttpResponse
from rest_framework.authtoken.models import Token

from exnaton.replica import ReplicaRouter, reads_from_replica, replica_reads
from meters.models import Channel, Reading, Unit
from tests.deploy.conftest import clean_environment, run
from tests.deploy.test_settings import SECRET_KEY, settings_under

router = ReplicaRouter()
PRIMARY = "postgres://exnaton@db:5432/exnaton"
REPLICA = "postgres://exnaton@db-replica:5432/exnaton"


@pytest.fixture(autouse=True)
def replica_alias():
    """The replica's settings beside the primary's, as DATABASE_REPLICA_URL makes them (no
    connection is opened: these tests only ask the router); yields them to be changed."""
    replica = {**connections.settings["default"], "HOST": "db-replica", "PORT": "5432"}
    connections.settings["replica"] = replica
    try:
        yield replica
    finally:
        del connections.settings["replica"]


@pytest.mark.parametrize("model", [Unit, Channel, Reading])
def test_reads_of_meter_data_go_to_the_replica_inside_the_scope_only(model):
    with replica_reads():
        assert router.db_for_read(model) == "replica"
    assert router.db_for_read(model) == "default"


# The rows of a database cache (CACHE_URL=dbcache://...), where the throttles count requests.
CACHE_ENTRY = DatabaseCache("exnaton_cache", {}).cache_model_class


@pytest.mark.parametrize("model", [User, Group, Token, Session, ContentType, LogEntry, CACHE_ENTRY])
def test_logins_sessions_tokens_and_throttle_counts_are_read_from_the_primary_always(model):
    with replica_reads():
        assert router.db_for_read(model) == "default"


def test_writes_go_to_the_primary_and_the_rest_of_the_scope_then_reads_it_too():
    with replica_reads():
        assert router.db_for_write(Session) == "default"
        assert router.db_for_read(Reading) == "default"
    with replica_reads():
        assert router.db_for_read(Reading) == "replica"


@pytest.mark.django_db
def test_reads_inside_a_transaction_on_the_primary_stay_there():
    with replica_reads(), transaction.atomic():
        assert router.db_for_read(Reading) == "default"


def test_a_replica_url_naming_the_primary_database_reads_through_the_primary(replica_alias):
    # As the test mirror of the primary's test database does: one connection, which also sees
    # what the test has not committed.
    replica_alias.update(HOST=connections.settings["default"]["HOST"])
    replica_alias.update(PORT=connections.settings["default"]["PORT"])

    with replica_reads():
        assert router.db_for_read(Reading) == "default"


def test_only_the_primary_is_migrated():
    assert router.allow_migrate("default", "meters")
    assert not router.allow_migrate("replica", "meters")


def database_of_a_read(request_factory, method: str, path: str) -> str:
    """Where a read of readings made by the view of this request would go."""
    seen = []

    def view(request):
        seen.append(router.db_for_read(Reading))
        return HttpResponse()

    reads_from_replica(view)(request_factory.generic(method, path))
    return seen[0]


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
@pytest.mark.parametrize(
    "path", ["/api/v1/units/", "/api/v1/readings/aggregate/", "/analysis/", "/analysis/x/"]
)
def test_safe_requests_to_the_api_and_the_report_pages_read_the_replica(rf, method, path):
    assert database_of_a_read(rf, method, path) == "replica"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_requests_that_may_write_read_the_primary(rf, method):
    assert database_of_a_read(rf, method, "/api/v1/units/") == "default"


@pytest.mark.parametrize(
    "path", ["/", "/admin/meters/unit/", "/accounts/login/", "/readyz", "/apis/", "/analysisx/"]
)
def test_the_admin_logins_and_other_pages_read_the_primary(rf, path):
    assert database_of_a_read(rf, "GET", path) == "default"


def test_a_streaming_answer_reads_the_replica_while_it_is_sent(rf):
    def chunks():
        for _ in range(3):
            yield router.db_for_read(Reading)

    response = reads_from_replica(lambda request: StreamingHttpResponse(chunks()))(
        rf.get("/api/v1/readings/csv/")
    )

    assert router.db_for_read(Reading) == "default"  # the view has returned
    assert b"".join(response.streaming_content) == b"replica" * 3


# --- Settings ----------------------------------------------------------------------------------


def replica_settings(**variables: str) -> dict:
    environment = clean_environment(DJANGO_SECRET_KEY=SECRET_KEY, **variables)
    return settings_under(environment, "DATABASES", "DATABASE_ROUTERS", "MIDDLEWARE")


def test_without_a_replica_url_there_is_one_database_and_no_router():
    configured = replica_settings(DATABASE_URL=PRIMARY, DATABASE_REPLICA_URL="")

    assert list(configured["DATABASES"]) == ["default"]
    assert configured["DATABASE_ROUTERS"] == []
    assert "exnaton.replica.reads_from_replica" not in configured["MIDDLEWARE"]


def test_a_replica_url_adds_the_replica_its_router_and_middleware():
    configured = replica_settings(DATABASE_URL=PRIMARY, DATABASE_REPLICA_URL=REPLICA)

    replica = configured["DATABASES"]["replica"]
    assert (replica["HOST"], replica["NAME"]) == ("db-replica", "exnaton")
    assert replica["OPTIONS"]["options"] == "-c temp_buffers=256MB -c work_mem=32MB"
    # Tests use the primary's test database through both aliases: none is made on the replica.
    assert replica["TEST"] == {"MIRROR": "default"}
    assert configured["DATABASE_ROUTERS"] == ["exnaton.replica.ReplicaRouter"]
    # Last, so that it wraps the view alone.
    assert configured["MIDDLEWARE"][-1] == "exnaton.replica.reads_from_replica"


def test_a_replica_of_sqlite_is_refused_clearly():
    environment = clean_environment(DJANGO_SECRET_KEY=SECRET_KEY, DATABASE_REPLICA_URL=REPLICA)
    result = run([sys.executable, "-c", "import exnaton.settings"], environment)

    assert result.returncode != 0
    assert "DATABASE_REPLICA_URL needs DATABASE_URL and itself to be PostgreSQL" in result.stderr
