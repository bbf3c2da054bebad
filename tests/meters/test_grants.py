"""Unit grants: kept on the unit, edited in the admin, read by meters.selectors.visible_units."""

from django.contrib.auth.models import AnonymousUser, Group
from django.urls import reverse

from meters.models import Unit
from meters.selectors import visible_readings, visible_units
from tests.conftest import CONSUMER, PRODUCER


def test_no_user_and_an_anonymous_one_see_no_unit(challenge_data):
    assert not visible_units(user=None).exists()
    assert not visible_units(user=AnonymousUser()).exists()


def test_an_inactive_staff_user_sees_no_unit(challenge_data, django_user_model):
    user = django_user_model.objects.create_user("gone", is_staff=True, is_active=False)

    assert not visible_units(user=user).exists()


def test_readings_follow_the_visible_units(challenge_data, reader_client):
    user = reader_client(PRODUCER.muid).user

    muids = set(visible_readings(user=user).values_list("channel__unit__muid", flat=True))

    assert muids == {PRODUCER.muid}


def test_staff_read_every_unit_and_users_without_a_grant_read_nothing(
    challenge_data, django_user_model
):
    staff = django_user_model.objects.create_user("ops", is_staff=True)
    inactive = django_user_model.objects.create_user("gone", is_staff=True, is_active=False)
    ungranted = django_user_model.objects.create_user("ana")

    def muids(user):
        return set(visible_readings(user=user).values_list("channel__unit__muid", flat=True))

    assert muids(staff) == {CONSUMER.muid, PRODUCER.muid}
    assert muids(inactive) == muids(ungranted) == muids(AnonymousUser()) == muids(None) == set()


def test_a_grant_to_a_group_ends_when_the_user_leaves_it(challenge_data, reader_client):
    user = reader_client().user
    group = Group.objects.create(name="site-7")
    Unit.objects.get(muid=CONSUMER.muid).groups.add(group)
    user.groups.add(group)
    assert visible_units(user=user).count() == 1

    user.groups.remove(group)

    assert visible_units(user=user).count() == 0


def test_the_unit_admin_page_grants_the_unit_to_users_and_groups(
    admin_client, challenge_data, django_user_model
):
    user = django_user_model.objects.create_user("ana")
    group = Group.objects.create(name="site-7")
    unit = Unit.objects.get(muid=CONSUMER.muid)
    url = reverse("admin:meters_unit_change", args=[unit.pk])
    assert 'name="users"' in admin_client.get(url).content.decode()

    response = admin_client.post(
        url,
        {
            "users": [user.pk],
            "groups": [group.pk],
            "channels-TOTAL_FORMS": "1",
            "channels-INITIAL_FORMS": "1",
            "channels-MIN_NUM_FORMS": "0",
            "channels-MAX_NUM_FORMS": "1000",
            "channels-0-id": unit.channels.get().pk,
            "channels-0-unit": unit.pk,
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert list(visible_units(user=user)) == [unit]
    assert list(unit.groups.all()) == [group]
