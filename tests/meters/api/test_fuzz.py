"""Schemathesis against the project's own OpenAPI schema, through the WSGI app, logged in.

Every operation gets a bounded number of generated requests (schemathesis derives them from
the parameters' types, enums and examples). Each answer must be below 500 and conform to the
schema: a documented status, content type, headers and body. The user reads only the
consumer unit, so no answer may name the producer.
"""

import json

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from exnaton.wsgi import application
from meters.models import Community, Unit
from tests.conftest import CONSUMER, PRODUCER

# Generated requests per operation: enough to reach every parameter, bounded for the suite.
EXAMPLES = 40
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


# Every operation of the API; the first test keeps this list complete.
OPERATIONS = [
    "GET /api/v1/units/",
    "GET /api/v1/units/{muid}/",
    "GET /api/v1/units/{muid}/profile/",
    "GET /api/v1/readings/",
    "GET /api/v1/readings/csv/",
    "GET /api/v1/readings/aggregate/",
    "GET /api/v1/readings/aggregate/csv/",
    "GET /api/v1/communities/",
    "POST /api/v1/communities/",
    "GET /api/v1/communities/{id}/",
    "PATCH /api/v1/communities/{id}/",
    "DELETE /api/v1/communities/{id}/",
    "GET /api/v1/communities/{id}/balance/",
    "GET /api/v1/communities/{id}/balance/csv/",
    "GET /api/v1/communities/{id}/members/balance/",
    "GET /api/v1/communities/{id}/members/balance/csv/",
]


def shown_data(response) -> str:
    """The answer less its pagination links, which echo the client's own query string (a
    muid the client sent is not data of that unit)."""
    try:
        body = json.loads(response.text)
    except ValueError:  # CSV, or an error page: all of it is shown
        return response.text
    if isinstance(body, dict):
        body = {key: value for key, value in body.items() if key not in ("next", "previous")}
    return json.dumps(body)


@pytest.fixture
def web_schema(db):
    # As Django's test client does: a request served inside the test's transaction must not
    # close the connection at its end (with CONN_MAX_AGE=0 it would on PostgreSQL).
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def consumer_token(challenge_data, reader_client, settings):
    settings.API_THROTTLE_USER = None  # the fuzzer measures answers, not the throttle
    reader = reader_client(CONSUMER.muid).user
    # A community the reader sees (its one unit) and one it may not (with the producer).
    consumer, producer = (Unit.objects.get(muid=unit.muid) for unit in (CONSUMER, PRODUCER))
    alone = Community.objects.create(name="Alone", kind="site")
    alone.members.create(unit=consumer, role="consumer")
    shared = Community.objects.create(name="Shared", kind="leg")
    shared.members.create(unit=consumer, role="consumer")
    shared.members.create(unit=producer, role="producer")
    return Token.objects.create(user=reader).key


def test_the_fuzzer_covers_every_operation_of_the_schema(web_schema):
    labels = [result.ok().label for result in web_schema.get_all_operations()]

    assert sorted(labels) == sorted(OPERATIONS)


@pytest.mark.parametrize("label", OPERATIONS)
def test_generated_requests_get_a_documented_answer_and_never_another_users_data(
    web_schema, consumer_token, label
):
    operation = web_schema.find_operation_by_label(label)
    # Plain bodies: schemathesis's WSGI transport asks for gzip as requests does, but never
    # inflates what it gets (compression is tested in tests/exnaton/test_headers.py).
    headers = {"Authorization": f"Token {consumer_token}", "Accept-Encoding": "identity"}

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def answers_well(case):
        response = case.call_and_validate(headers=headers, checks=CHECKS)
        assert str(PRODUCER.muid) not in shown_data(response)

    answers_well()
