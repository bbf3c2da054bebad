"""/metrics: the fleet's state for Prometheus, only for a Bearer METRICS_TOKEN or staff."""

from datetime import timedelta

import pytest

from meters.models import Channel, Unit
from tests.meters.queue.conftest import now, parse_metrics

pytestmark = pytest.mark.django_db


@pytest.fixture
def token(settings) -> str:
    settings.METRICS_TOKEN = "scrape-token-for-tests"
    settings.CELERY_BROKER_URL = ""
    return settings.METRICS_TOKEN


def test_metrics_need_the_token_or_a_staff_login(client, token, reader_client):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert reader_client().get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200


def test_without_a_token_set_no_bearer_gets_in(client, settings):
    settings.METRICS_TOKEN = ""

    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer ")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'


def test_the_fleet_state_counts_overdue_failing_and_queued_units_and_each_units_lag(
    client, token, settings
):
    settings.METERS_OVERDUE_MINUTES = 10
    at = now()
    current = Unit.objects.create(muid="00000000-0000-4000-8000-000000000001", poll_enabled=True)
    Channel.objects.create(
        unit=current, obis="0100011D00FF", last_reading_at=at - timedelta(hours=1)
    )
    Unit.objects.create(
        muid="00000000-0000-4000-8000-000000000002",
        poll_enabled=True,
        next_poll_at=at - timedelta(minutes=30),
        consecutive_failures=2,
        queued_at=at,
    )
    Unit.objects.create(muid="00000000-0000-4000-8000-000000000003", poll_enabled=False)

    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response["Content-Type"].startswith("text/plain; version=")
    samples = parse_metrics(response.content.decode())
    lag = samples.pop('exnaton_unit_lag_seconds{muid="00000000-0000-4000-8000-000000000001"}')
    assert 3600 <= lag < 3660
    assert samples == {
        "exnaton_units_polled": 2,
        "exnaton_units_overdue": 1,
        "exnaton_units_failing": 1,
        "exnaton_units_queued": 1,
    }


def test_an_unreachable_broker_shows_as_down(client, token, settings):
    settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:9//"

    samples = parse_metrics(
        client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}").content.decode()
    )

    assert samples[f'exnaton_queue_up{{queue="{settings.CELERY_TASK_DEFAULT_QUEUE}"}}'] == 0
