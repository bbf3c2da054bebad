"""A client generated from the served schema by openapi-python-client, called over real HTTP.

The generator types each answer by the schema alone: an operation that declared JSON and CSV
for one 200 made it parse a CSV export as JSON. Here the client is generated from what the
server serves, imported, and each JSON and CSV operation of readings and aggregates is called
against the live server with a token.
"""

import csv
import datetime as dt
import importlib
import io
import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from tests.conftest import CONSUMER

PACKAGE = "exnaton_client"
GENERATOR = Path(sys.executable).with_name("openapi-python-client")


@pytest.fixture
def generated(live_server, tmp_path, monkeypatch):
    """The generated package, imported, and a client of it logged in as a staff user."""
    config = tmp_path / "config.yaml"
    # No formatting of the generated code: it is imported, not kept.
    config.write_text(f"post_hooks: []\npackage_name_override: {PACKAGE}\n")
    subprocess.run(  # noqa: S603 - the generator installed beside this Python, fixed arguments
        [
            str(GENERATOR),
            "generate",
            "--url",
            f"{live_server.url}/api/schema/?format=json",
            "--meta",
            "none",
            "--output-path",
            str(tmp_path / PACKAGE),
            "--config",
            str(config),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
        del sys.modules[name]
    return importlib.import_module(PACKAGE)


@pytest.fixture
def api_client(generated, challenge_data, django_user_model, live_server):
    user = django_user_model.objects.create_user("client", password="unused", is_staff=True)
    token = Token.objects.create(user=user).key
    return generated.AuthenticatedClient(base_url=live_server.url, token=token, prefix="Token")


def call(operation: str, client, **params):
    module = importlib.import_module(f"{PACKAGE}.api.readings.{operation}")
    return module.sync(client=client, **params)


def models():
    return importlib.import_module(f"{PACKAGE}.models")


def csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


FEBRUARY_FIRST = {"start": "2023-02-01T00:00:00Z", "end": "2023-02-02T00:00:00Z"}


def test_the_generated_client_reads_a_page_of_readings_as_typed_json(api_client):
    page = call("readings_list", api_client, muid=[str(CONSUMER.muid)], page_size=96)

    assert isinstance(page, models().ReadingPage)
    assert len(page.results) == 96
    assert page.results[0].timestamp == dt.datetime(2023, 2, 1, tzinfo=dt.UTC)
    assert page.next_  # "next" is a builtin: the generator adds an underscore


def test_the_generated_client_reads_the_readings_csv_as_text(api_client):
    text = call("readings_csv", api_client, muid=[str(CONSUMER.muid)], **FEBRUARY_FIRST)

    assert isinstance(text, str)
    rows = csv_rows(text)
    assert len(rows) == 96
    assert list(rows[0]) == ["muid", "obis", "timestamp", "value", "quality", "measurement"]


def test_the_generated_client_reads_aggregates_as_typed_json_with_enums(api_client):
    interval = models().ReadingsAggregateInterval.DAY
    answer = call("readings_aggregate", api_client, muid=[str(CONSUMER.muid)], interval=interval)

    assert isinstance(answer, models().Aggregate)
    assert answer.interval is models().IntervalEnum.DAY
    assert answer.agg is models().AggEnum.SUM
    assert sum(bucket.count for bucket in answer.buckets) == CONSUMER.readings


def test_the_generated_client_reads_the_aggregate_csv_as_text(api_client):
    interval = models().ReadingsAggregateCsvInterval.HOUR
    text = call(
        "readings_aggregate_csv",
        api_client,
        muid=[str(CONSUMER.muid)],
        interval=interval,
        **FEBRUARY_FIRST,
    )

    rows = csv_rows(text)
    assert len(rows) == 24
    assert list(rows[0]) == [
        "muid",
        "obis",
        "start",
        "end",
        "value",
        "count",
        "expected",
        "pruned",
    ]


def test_the_generated_client_gets_an_error_of_a_csv_operation_as_typed_json(api_client):
    interval = models().ReadingsAggregateCsvInterval.DAY
    backwards = {"start": "2023-02-02", "end": "2023-02-01"}
    error = call("readings_aggregate_csv", api_client, interval=interval, **backwards)

    assert isinstance(error, models().Error)
    assert error.errors.additional_properties == {"end": ["Must be later than start."]}
