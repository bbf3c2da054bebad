"""The pages need a login and show only the units the user may read."""

import pytest
from django.urls import reverse

from tests.conftest import CONSUMER, PRODUCER

NOWHERE = "00000000-0000-4000-8000-000000000000"


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/analysis/",
        f"/analysis/{CONSUMER.muid}/",
        f"/analysis/{NOWHERE}/",
        "/analysis/charts/daily.svg",
        f"/analysis/{CONSUMER.muid}/charts/series.svg",
    ],
)
def test_an_anonymous_visitor_is_sent_to_the_login_page(client, db, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={path}"


def test_the_report_of_a_hidden_unit_is_a_404_like_a_missing_one(challenge_data, reader_client):
    reader = reader_client(CONSUMER.muid)

    hidden = reader.get(f"/analysis/{PRODUCER.muid}/")
    missing = reader.get(f"/analysis/{NOWHERE}/")

    assert hidden.status_code == missing.status_code == 404
    assert str(PRODUCER.muid) not in hidden.content.decode()


def test_a_chart_of_a_hidden_unit_is_a_404_like_a_missing_one(challenge_data, reader_client):
    reader = reader_client(CONSUMER.muid)

    hidden = reader.get(f"/analysis/{PRODUCER.muid}/charts/series.svg")
    missing = reader.get(f"/analysis/{NOWHERE}/charts/series.svg")
    granted = reader.get(f"/analysis/{CONSUMER.muid}/charts/series.svg")

    assert hidden.status_code == missing.status_code == 404
    assert granted.status_code == 200


def test_a_chart_of_a_hidden_unit_is_a_404_even_with_bad_parameters(challenge_data, reader_client):
    response = reader_client(CONSUMER.muid).get(
        f"/analysis/{PRODUCER.muid}/charts/series.svg?tz=Nowhere/Else"
    )

    assert response.status_code == 404


def test_the_report_of_a_granted_unit_renders(challenge_data, reader_client):
    response = reader_client(CONSUMER.muid).get(f"/analysis/{CONSUMER.muid}/")

    assert response.status_code == 200
    assert str(CONSUMER.muid) in response.content.decode()


def test_the_overview_compares_only_the_granted_units(challenge_data, reader_client):
    html = reader_client(CONSUMER.muid).get("/analysis/").content.decode()

    assert str(CONSUMER.muid) in html
    assert str(PRODUCER.muid) not in html
    assert str(PRODUCER.muid)[:8] not in html  # nor its label in the charts and findings


def test_an_overview_cached_for_staff_is_not_served_to_a_user_who_sees_less(
    challenge_data, staff_client, reader_client
):
    assert str(PRODUCER.muid) in staff_client.get("/analysis/").content.decode()

    html = reader_client(CONSUMER.muid).get("/analysis/").content.decode()

    assert str(PRODUCER.muid)[:8] not in html


@pytest.mark.parametrize("name", ["daily", "series", "profiles"])
def test_an_overview_chart_drawn_for_staff_is_not_served_to_a_user_who_sees_less(
    challenge_data, staff_client, reader_client, name
):
    label = str(PRODUCER.muid)[:8].encode()
    assert label in staff_client.get(f"/analysis/charts/{name}.svg").content

    svg = reader_client(CONSUMER.muid).get(f"/analysis/charts/{name}.svg").content

    assert str(CONSUMER.muid)[:8].encode() in svg
    assert label not in svg


def test_the_home_page_lists_only_the_granted_units(challenge_data, reader_client):
    html = reader_client(PRODUCER.muid).get("/").content.decode()

    assert str(PRODUCER.muid) in html
    assert str(CONSUMER.muid) not in html


def test_logging_in_on_the_login_page_opens_the_page_asked_for(client, django_user_model, db):
    django_user_model.objects.create_user("ana", password="a long passphrase")

    response = client.post(
        reverse("login"),
        {"username": "ana", "password": "a long passphrase", "next": "/analysis/"},
    )

    assert response.status_code == 302
    assert response["Location"] == "/analysis/"
    assert client.get("/analysis/").status_code == 200


def test_a_wrong_password_shows_the_login_page_again(client, django_user_model, db):
    django_user_model.objects.create_user("ana", password="a long passphrase")

    response = client.post(reverse("login"), {"username": "ana", "password": "guess"})

    assert response.status_code == 200
    assert "did not match" in response.content.decode()


def test_logging_out_ends_the_session(staff_client, db):
    response = staff_client.post(reverse("logout"))

    assert response["Location"] == reverse("login")
    assert staff_client.get("/analysis/").status_code == 302
