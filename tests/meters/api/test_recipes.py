"""The curl recipes of docs/API.md, run as written with bash against a live server.

A recipe is a paragraph of the "Recipes" block: its comment says what it gives, and these tests
hold it to that. Only the base URL is changed, and curl is given the token header, which the
guide leaves out for brevity.
"""

import json
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.authtoken.models import Token

from tests.conftest import CONSUMER

GUIDE = Path(settings.BASE_DIR) / "docs" / "API.md"

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("bash", "curl", "python3")),
    reason="the recipes need bash, curl and python3",
)


def recipes() -> tuple[str, dict[str, str]]:
    """The block's opening assignments, and each recipe by the first line of its comment."""
    text = GUIDE.read_text()
    block = re.search(r"## Recipes\n\n```sh\n(.*?)```", text, re.S).group(1)
    preamble, *paragraphs = block.split("\n\n")
    return preamble, {p.splitlines()[0].lstrip("# "): p for p in paragraphs}


@pytest.fixture
def run(live_server, challenge_data, django_user_model):
    user = django_user_model.objects.create_user("reader", password="unused", is_staff=True)
    token = Token.objects.create(user=user).key
    preamble, by_title = recipes()
    preamble = re.sub(r"^API=.*$", f"API={live_server.url}/api/v1", preamble, flags=re.M)

    def run(title_start: str):
        [recipe] = [text for title, text in by_title.items() if title.startswith(title_start)]
        script = "\n".join(
            [
                "set -euo pipefail",
                f'curl() {{ command curl -H "Authorization: Token {token}" "$@"; }}',
                preamble,
                recipe,
            ]
        )
        done = subprocess.run(  # noqa: S603 - the guide's own recipes, on loopback
            ["bash", "-c", script],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return json.loads(done.stdout)

    return run


def total(answer: dict) -> Decimal:
    return sum((Decimal(bucket["value"]) for bucket in answer["buckets"]), Decimal(0))


def test_the_last_24_hours_recipe_finds_the_last_day_of_the_demo_data(run):
    answer = run("The last 24 hours")

    assert len(answer["buckets"]) == 96
    assert answer["buckets"][-1]["start"] == "2023-03-01T00:45:00+01:00"


def test_februarys_local_days_miss_the_hour_that_falls_on_1_march_in_zurich(run):
    answer = run("Daily totals for February")

    assert len(answer["buckets"]) == 28
    assert sum(bucket["count"] for bucket in answer["buckets"]) == CONSUMER.readings - 4
    assert total(answer) < CONSUMER.total


def test_the_daily_totals_of_the_whole_span_add_up_to_the_units_total(run):
    answer = run("Daily totals over the whole data span")

    assert len(answer["buckets"]) == 29
    assert total(answer) == CONSUMER.total
    last = answer["buckets"][-1]
    assert (last["start"], last["count"], last["expected"]) == ("2023-03-01T00:00:00+01:00", 4, 96)


def test_utc_days_hold_the_whole_data_in_complete_buckets(run):
    answer = run("The same in UTC days")

    assert len(answer["buckets"]) == 28
    assert all(bucket["count"] == bucket["expected"] for bucket in answer["buckets"])
    assert total(answer) == CONSUMER.total
