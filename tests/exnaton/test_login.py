"""Failed logins are throttled per account and per client, on the site's and the admin's login."""

import time

import pytest
from django.urls import reverse

LOGINS = {"site": "/accounts/login/", "admin": "/admin/login/"}


@pytest.fixture
def ana(django_user_model):
    return django_user_model.objects.create_user("ana", password="a long passphrase", is_staff=True)


@pytest.fixture
def limits(settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    settings.LOGIN_FAILURES_PER_CLIENT = 5
    settings.LOGIN_LOCKOUT_SECONDS = 600
    return settings


def attempt(client, url: str, username: str, password: str, address: str = "192.0.2.1"):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=address)


@pytest.mark.parametrize("url", LOGINS.values(), ids=LOGINS.keys())
def test_an_account_past_its_failures_is_refused_with_a_429_even_with_its_password(
    client, ana, limits, url
):
    failures = [attempt(client, url, "ana", "wrong").status_code for _ in range(3)]
    refused = attempt(client, url, "ana", "a long passphrase")

    assert failures == [200, 200, 200]
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) == pytest.approx(600, abs=5)
    assert (
        "Too many failed logins for this account or from this address. Try again in 10 minutes."
        in (refused.content.decode())
    )
    assert "_auth_user_id" not in client.session


def test_the_account_is_refused_from_every_address(client, ana, limits):
    for i in range(3):
        attempt(client, LOGINS["site"], "ana", "wrong", address=f"192.0.2.{i}")

    assert (
        attempt(client, LOGINS["site"], "ana", "wrong", address="198.51.100.9").status_code == 429
    )


def test_failures_on_the_site_and_the_admin_count_together(client, ana, limits):
    attempt(client, LOGINS["site"], "ana", "wrong")
    attempt(client, LOGINS["admin"], "ana", "wrong")
    attempt(client, LOGINS["site"], "ana", "wrong")

    assert attempt(client, LOGINS["admin"], "ana", "a long passphrase").status_code == 429


def test_a_client_trying_many_accounts_is_refused_past_its_own_limit(client, ana, limits):
    statuses = [attempt(client, LOGINS["site"], f"user{i}", "wrong").status_code for i in range(6)]

    assert statuses == [200] * 5 + [429]
    # Another client may still log in to the account that was not guessed at.
    other = attempt(client, LOGINS["site"], "ana", "a long passphrase", address="198.51.100.9")
    assert other.status_code == 302


def test_a_varied_x_forwarded_for_is_still_one_client(client, ana, limits):
    statuses = [
        client.post(
            LOGINS["site"],
            {"username": f"user{i}", "password": "wrong"},
            HTTP_X_FORWARDED_FOR=f"203.0.113.{i}",
        ).status_code
        for i in range(6)
    ]

    assert statuses[-1] == 429


def test_a_successful_login_clears_the_accounts_failures(client, ana, limits):
    for _ in range(2):
        attempt(client, LOGINS["site"], "ana", "wrong")
    assert attempt(client, LOGINS["site"], "ana", "a long passphrase").status_code == 302
    client.logout()

    statuses = [attempt(client, LOGINS["site"], "ana", "wrong").status_code for _ in range(2)]

    assert statuses == [200, 200]


def test_the_lockout_ends_after_its_seconds(client, ana, limits, monkeypatch):
    for _ in range(3):
        attempt(client, LOGINS["site"], "ana", "wrong")
    later = time.time() + 601
    monkeypatch.setattr(time, "time", lambda: later)

    assert attempt(client, LOGINS["site"], "ana", "a long passphrase").status_code == 302


def test_a_right_password_logs_in_and_lands_on_the_home_page(client, ana, limits):
    response = attempt(client, LOGINS["site"], "ana", "a long passphrase")

    assert response.status_code == 302
    assert response["Location"] == reverse("home")
