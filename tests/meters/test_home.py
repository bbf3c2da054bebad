"""The home page: each unit the user may read, its channels, span, completeness and links."""

import re

import pytest
from django.urls import reverse

from meters.models import Unit
from tests.conftest import CONSUMER, PRODUCER


@pytest.fixture
def home(challenge_data, staff_client) -> str:
    return staff_client.get("/").content.decode()


def unit_block(page: str, muid) -> str:
    match = re.search(rf'<tbody class="unit" data-muid="{muid}">(.*?)</tbody>', page, re.S)
    assert match, muid
    return match.group(1)


@pytest.mark.parametrize("unit", [CONSUMER, PRODUCER], ids=["consumer", "producer"])
def test_each_unit_links_to_its_report_its_api_and_its_admin_page(home, unit):
    block = unit_block(home, unit.muid)
    pk = Unit.objects.get(muid=unit.muid).pk

    assert f'href="/analysis/{unit.muid}/"' in block
    assert f'href="/api/v1/units/{unit.muid}/"' in block
    assert f'href="{reverse("admin:meters_unit_change", args=[pk])}"' in block
    assert f'href="/analysis/{unit.muid}/?channel={unit.obis}"' in block


def test_a_channel_that_is_not_energy_links_to_its_readings_not_to_a_report(
    challenge_data, staff_client
):
    consumer = Unit.objects.get(muid=CONSUMER.muid)
    consumer.channels.create(obis="0100200700FF")  # 1-0:32.7.0, a voltage

    block = unit_block(staff_client.get("/").content.decode(), CONSUMER.muid)

    assert f'href="/api/v1/readings/?muid={CONSUMER.muid}&amp;obis=0100200700FF"' in block
    assert "?channel=0100200700FF" not in block


def test_a_span_is_written_with_its_zone(home):
    block = unit_block(home, CONSUMER.muid)

    # 2023-02-01T00:00Z and 2023-02-28T23:45Z in Zurich.
    assert "2023-02-01 01:00 CET" in block
    assert "2023-03-01 00:45 CET" in block
    assert "Europe/Zurich" in home


def test_completeness_and_reading_count_are_shown(home):
    block = unit_block(home, CONSUMER.muid)

    assert "<td>2688</td>" in block
    assert "<td>100%</td>" in block


def test_muids_and_obis_codes_never_break_mid_token(home):
    assert re.search(r"code \{[^}]*white-space: nowrap", home)


def test_a_user_who_is_not_staff_gets_no_admin_link(challenge_data, reader_client):
    page = reader_client(CONSUMER.muid).get("/").content.decode()

    assert f'href="/analysis/{CONSUMER.muid}/"' in page
    assert "/admin/meters/unit/" not in page


def test_the_home_page_links_the_api_index_and_its_docs(home):
    assert 'href="/api/v1/"' in home
    assert 'href="/api/docs/"' in home
