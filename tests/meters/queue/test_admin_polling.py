"""The admin's unit list for an operator: lag, last error, overdue/failing/queued filters,
"poll now", on the queue or (without a broker) at once, and polling stopped or started for many
units at a time."""

from datetime import timedelta

import pytest
from django.urls import reverse
from kombu import Connection

from meters.models import Reading, Unit
from tests.conftest import CHALLENGE_UNITS, CONSUMER, PRODUCER
from tests.meters.queue.conftest import BROKER, now

pytestmark = pytest.mark.django_db
UNITS = reverse("admin:meters_unit_changelist")


@pytest.fixture
def registry(challenge_data):
    """The two challenge units, stored: the consumer failing and overdue, the producer fine."""
    Unit.objects.update(poll_enabled=True, next_poll_at=now() + timedelta(minutes=5))
    Unit.objects.filter(muid=CONSUMER.muid).update(
        last_error="cannot reach https://meters.example.com/: connection refused",
        consecutive_failures=2,
        next_poll_at=now() - timedelta(hours=1),
    )


def listed(admin_client, **query) -> set[str]:
    page = admin_client.get(UNITS, query).content.decode()
    return {str(unit.muid) for unit in CHALLENGE_UNITS if str(unit.muid) in page}


def test_the_unit_list_shows_each_units_lag_and_last_error(admin_client, registry):
    page = admin_client.get(UNITS).content.decode()

    assert "cannot reach https://meters.example.com/: connection refused" in page
    # The challenge's newest reading is of February 2023.
    assert page.count(">2\xa0years<") + page.count(">3\xa0years<") == 2


@pytest.mark.parametrize(
    ("state", "expected"), [("overdue", {CONSUMER}), ("failing", {CONSUMER}), ("queued", set())]
)
def test_the_unit_list_filters_by_poll_state(admin_client, registry, state, expected):
    assert listed(admin_client, poll=state) == {str(unit.muid) for unit in expected}


def act(admin_client, action: str, *units):
    return admin_client.post(
        UNITS,
        {
            "action": action,
            "_selected_action": [Unit.objects.get(muid=u.muid).pk for u in units],
        },
        follow=True,
    )


def poll_now(admin_client, *units):
    return act(admin_client, "poll_now", *units)


def test_polling_is_stopped_for_the_selected_units_and_they_are_no_longer_due(
    admin_client, registry
):
    page = act(admin_client, "stop_polling", *CHALLENGE_UNITS).content.decode()

    assert "Stopped polling 2 unit(s)." in page
    assert not Unit.objects.filter(poll_enabled=True).exists()
    assert listed(admin_client, poll="overdue") == set()


def test_polling_started_again_makes_the_selected_units_due_at_the_next_run(admin_client, registry):
    Unit.objects.update(poll_enabled=False)

    page = act(admin_client, "start_polling", PRODUCER).content.decode()

    assert "Started polling 1 unit(s): due at the next run." in page
    producer = Unit.objects.get(muid=PRODUCER.muid)
    assert (producer.poll_enabled, producer.next_poll_at) == (True, None)
    assert Unit.objects.get(muid=CONSUMER.muid).poll_enabled is False


def test_poll_now_without_a_broker_polls_at_once(admin_client, challenge_source, settings):
    settings.CELERY_BROKER_URL = ""
    Unit.objects.create(muid=PRODUCER.muid)

    page = poll_now(admin_client, PRODUCER).content.decode()

    assert "Polled 1 of 1 unit(s)." in page
    assert Reading.objects.count() == PRODUCER.readings


def test_poll_now_with_a_broker_queues_the_selected_units_once(
    admin_client, registry, broker_queue
):
    first = poll_now(admin_client, CONSUMER, PRODUCER).content.decode()
    again = poll_now(admin_client, CONSUMER).content.decode()

    assert "Queued 2 unit(s) for polling." in first
    assert "Queued 0 unit(s) for polling; 1 queued already." in again
    assert listed(admin_client, poll="queued") == {str(CONSUMER.muid), str(PRODUCER.muid)}
    with Connection(BROKER) as broker:
        _, messages, _ = broker.default_channel.queue_declare(broker_queue, passive=True)
    assert messages == 1
