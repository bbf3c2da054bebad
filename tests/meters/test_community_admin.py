"""Communities in the admin: created with their members inline, shares checked by the rule the
API applies."""

import pytest

from meters.models import Community
from tests.factories import UnitFactory

ADD = "/admin/meters/community/add/"


@pytest.fixture
def admin_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("admin", password="unused")
    client.force_login(user)
    return client


def add(client, allocation: str, *members: tuple):
    """Post the add form of a community named Street with `members` (unit, role, share)."""
    data = {
        "name": "Street",
        "kind": "leg",
        "allocation": allocation,
        "tz": "Europe/Zurich",
        "description": "",
        "members-TOTAL_FORMS": str(len(members)),
        "members-INITIAL_FORMS": "0",
        "members-MIN_NUM_FORMS": "0",
        "members-MAX_NUM_FORMS": "1000",
    }
    for i, (unit, role, share) in enumerate(members):
        data |= {f"members-{i}-unit": unit.pk, f"members-{i}-role": role}
        data[f"members-{i}-share"] = share
    return client.post(ADD, data)


@pytest.mark.django_db
def test_a_community_is_added_with_its_members(admin_client):
    producer, consumer = UnitFactory(), UnitFactory()

    response = add(admin_client, "dynamic", (producer, "producer", ""), (consumer, "consumer", ""))

    assert response.status_code == 302
    community = Community.objects.get()
    assert {(m.unit, m.role) for m in community.members.all()} == {
        (producer, "producer"),
        (consumer, "consumer"),
    }


@pytest.mark.django_db
def test_shares_over_one_are_refused_with_the_apis_message(admin_client):
    first, second = UnitFactory(), UnitFactory()

    response = add(admin_client, "static", (first, "consumer", "0.7"), (second, "consumer", "0.4"))

    assert response.status_code == 200
    assert "The shares add up to 1.1" in response.content.decode()
    assert not Community.objects.exists()


@pytest.mark.django_db
def test_the_list_and_the_change_page_render(admin_client):
    community = Community.objects.create(name="Street", kind="zev")

    assert admin_client.get("/admin/meters/community/").status_code == 200
    page = admin_client.get(f"/admin/meters/community/{community.pk}/change/")
    assert page.status_code == 200
    assert f"/analysis/communities/{community.pk}/" in page.content.decode()
