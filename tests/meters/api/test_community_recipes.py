"""The curl examples of docs/API.md's communities section, run as written with bash against a
live server: create, switch to static shares, the balances as JSON and CSV, delete."""

import csv
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.authtoken.models import Token

from meters.models import Community
from tests.conftest import CONSUMER

GUIDE = Path(settings.BASE_DIR) / "docs" / "API.md"

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("bash", "curl", "python3")),
    reason="the recipes need bash, curl and python3",
)


def community_recipes() -> str:
    text = GUIDE.read_text()
    section = text[text.index("### `GET /api/v1/communities/{id}/members/balance/`") :]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def test_the_community_recipes_create_balance_bill_and_delete(
    live_server, challenge_data, django_user_model, tmp_path
):
    user = django_user_model.objects.create_user("staff", password="unused", is_staff=True)
    token = Token.objects.create(user=user).key
    script = re.sub(r"^API=.*$", f"API={live_server.url}/api/v1", community_recipes(), flags=re.M)

    subprocess.run(  # noqa: S603 - the guide's own examples, on loopback
        ["bash", "-c", f"set -euo pipefail\nTOKEN={token}\n{script}"],  # noqa: S607
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=tmp_path,
    )

    quarters = list(csv.DictReader((tmp_path / "balance.csv").open()))
    bills = {row["muid"]: row for row in csv.DictReader((tmp_path / "bills.csv").open())}
    consumer = bills[str(CONSUMER.muid)]
    assert len(quarters) == 2688
    # Static, 60%: the consumer receives at most 60% of what could be shared; the rest of the
    # shareable energy is unallocated, not given to anyone.
    assert Decimal(consumer["from_community"]) <= Decimal("0.6") * Decimal("14.83605")
    assert Decimal(consumer["from_community"]) + Decimal(consumer["from_grid"]) == Decimal(
        consumer["consumption"]
    )
    assert sum(Decimal(q["unallocated"]) for q in quarters) > 0
    assert not Community.objects.exists()
