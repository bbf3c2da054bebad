"""`demo_login`: the one-step local login of `make run`, refused outside DEBUG."""

import re

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token

from meters.selectors import visible_units


def run_demo_login(capsys) -> dict[str, str]:
    call_command("demo_login")
    return dict(re.findall(r"(user|password)=(\S+)", capsys.readouterr().out))


def test_it_creates_a_staff_login_that_sees_every_unit_and_prints_it(
    settings, challenge_data, capsys
):
    settings.DEBUG = True

    printed = run_demo_login(capsys)

    user = authenticate(username=printed["user"], password=printed["password"])
    assert user is not None
    assert visible_units(user=user).count() == 2
    assert Token.objects.filter(user=user).exists()


def test_running_it_again_resets_the_password(settings, db, capsys):
    settings.DEBUG = True
    first = run_demo_login(capsys)

    second = run_demo_login(capsys)

    assert first["password"] != second["password"]
    assert authenticate(username="demo", password=first["password"]) is None
    assert authenticate(username="demo", password=second["password"]) is not None


def test_the_printed_example_calls_the_server_where_make_run_starts_it(settings, db, capsys):
    settings.DEBUG = True

    call_command("demo_login", url="http://127.0.0.1:8015/")

    token = Token.objects.get(user__username="demo")
    assert (
        f"curl -H 'Authorization: Token {token.key}' http://127.0.0.1:8015/api/v1/units/"
        in capsys.readouterr().out
    )


def test_it_refuses_to_run_with_debug_off(settings, db, django_user_model):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="needs DJANGO_DEBUG=1"):
        call_command("demo_login")
    assert not django_user_model.objects.exists()
