"""Reads from a PostgreSQL streaming replica (DATABASE_REPLICA_URL), where a little lag is fine.

A replica is a moment behind the primary. Only the read-only entry points whose answers may be
that moment old, the API and the report pages asked with a safe method, read from it: the
middleware `reads_from_replica` opens the scope around them, and `ReplicaRouter` sends reads
there only inside it. Everything else never opens it and reads the primary: the ingest and
every command (the poll registry's schedule, the ingest's own checks), the admin, login,
logout, a POST anywhere. Within the scope some reads still go to the primary:

- the tables of logins, sessions and tokens, so that a session or token made a moment ago
  authenticates, and a logout or a revoked token takes effect at once;
- everything after a write in the same request, so that the request sees what it wrote;
- everything inside a transaction on the primary, which must see one state;
- everything, when the replica's URL names the primary's own database.

Without DATABASE_REPLICA_URL neither this router nor the middleware is installed.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import DEFAULT_DB_ALIAS, connections

REPLICA = "replica"

# The URL prefixes of the API and the report pages (exnaton/urls.py). The docs and the schema
# under /api/ read no table; the home page lists units beside links to the admin and stays on
# the primary.
REPLICA_READ_PATHS = ("/api/", "/analysis/")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Apps whose rows must be read as they are now: users, groups, permissions, tokens, sessions,
# the admin's log and content types, and the rows of a database cache (CACHE_URL=dbcache://,
# whose throttle counts are read and written within one request).
PRIMARY_ONLY_APPS = frozenset(
    {"admin", "auth", "authtoken", "contenttypes", "sessions", "django_cache"}
)

_replica_reads: ContextVar[bool] = ContextVar("replica_reads", default=False)


@contextmanager
def replica_reads() -> Iterator[None]:
    """Within this block the router may send reads to the replica."""
    token = _replica_reads.set(True)
    try:
        yield
    finally:
        _replica_reads.reset(token)


class ReplicaRouter:
    """Reads of the scope opened by `replica_reads` go to the replica; all else to the primary."""

    def db_for_read(self, model, **hints) -> str:
        if (
            _replica_reads.get()
            and model._meta.app_label not in PRIMARY_ONLY_APPS
            and not connections[DEFAULT_DB_ALIAS].in_atomic_block
            and not _replica_is_the_primary()
        ):
            return REPLICA
        return DEFAULT_DB_ALIAS

    def db_for_write(self, model, **hints) -> str:
        # The rest of the request reads what it has just written: the primary.
        _replica_reads.set(False)
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints) -> bool:
        # Both aliases are the same database: an object read from one relates to the other's.
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints) -> bool:
        # The replica replays the primary's schema; it cannot be written to.
        return db == DEFAULT_DB_ALIAS


def _replica_is_the_primary() -> bool:
    """Whether the replica's URL names the primary's own database: as the test mirror does
    under the primary's test database (settings), or DATABASE_REPLICA_URL set to DATABASE_URL.
    The primary's connection then serves the reads too, and sees what it has not committed."""
    replica, primary = connections.settings[REPLICA], connections.settings[DEFAULT_DB_ALIAS]
    return all(replica[key] == primary[key] for key in ("HOST", "PORT", "NAME"))


def reads_from_replica(get_response):
    """Middleware: safe requests to the API and the report pages read from the replica.

    A streaming answer (the CSV exports) runs its queries while the server sends it, after
    this middleware has returned: its chunks are made inside the scope too.
    """

    def middleware(request):
        if request.method not in SAFE_METHODS or not request.path_info.startswith(
            REPLICA_READ_PATHS
        ):
            return get_response(request)
        with replica_reads():
            response = get_response(request)
        if response.streaming:
            response.streaming_content = _made_in_scope(response.streaming_content)
        return response

    return middleware


def _made_in_scope(chunks) -> Iterator:
    """The chunks of a streaming answer, each one made inside the replica scope."""
    chunks, end = iter(chunks), object()
    while True:
        with replica_reads():
            chunk = next(chunks, end)
        if chunk is end:
            return
        yield chunk
