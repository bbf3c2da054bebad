"""The community page: the answer for each member, its charts, incomplete quarter hours
marked, and no community (nor any of its units) shown to a user not granted every unit."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command

from meters.models import Community, Member, Unit
from tests.conftest import CONSUMER, PRODUCER
from tests.factories import EXPORT, IMPORT, ChannelFactory, ReadingFactory, UnitFactory


@pytest.fixture
def demo(challenge_data) -> Community:
    call_command("demo_community", stdout=open("/dev/null", "w"))  # noqa: SIM115
    return Community.objects.get()


def page(client, community, **params):
    return client.get(f"/analysis/communities/{community.pk}/", params)


def test_the_demo_community_is_a_what_if_of_the_two_challenge_units(demo):
    members = {str(m.unit.muid): m.role for m in demo.members.all()}

    assert members == {str(PRODUCER.muid): "producer", str(CONSUMER.muid): "consumer"}
    assert demo.allocation == "dynamic"
    assert "What-if" in demo.name
    assert "not a real community" in demo.description


def test_the_demo_command_run_again_resets_the_one_community(demo):
    call_command("demo_community", stdout=open("/dev/null", "w"))  # noqa: SIM115

    assert Community.objects.get().members.count() == 2


def test_the_demo_page_answers_how_much_of_95ce3367s_february_the_pv_would_have_covered(
    staff_client, demo
):
    response = page(staff_client, demo)
    html = response.content.decode()

    assert response.status_code == 200
    assert (
        "95ce3367 (consumer) consumed 97.608 kWh in the counted intervals: 14.836 kWh (15.2%) "
        "from the community, 82.772 kWh from the grid." in html
    )
    assert "1db7649e (producer) produced 36.197 kWh: 14.836 kWh (41.0%)" in html
    assert "of the 2688 counted quarter hours with consumption, the community covered" in html
    assert "in proportion to its consumption" in html
    for chart in ("flows", "daily", "monthly"):
        assert f"/analysis/communities/{demo.pk}/charts/{chart}.svg?" in html


def test_the_monthly_table_marks_the_months_the_data_only_touches(staff_client, demo):
    html = page(staff_client, demo).content.decode()

    # In Zurich the data starts at 01:00 on 1 February and ends at 00:45 on 1 March.
    assert "2684 of 2688 (incomplete)" in html
    assert "4 of 2972 (incomplete)" in html


@pytest.mark.parametrize("chart", ["flows", "daily", "monthly"])
def test_each_chart_is_an_svg_of_the_page(staff_client, demo, chart):
    response = staff_client.get(f"/analysis/communities/{demo.pk}/charts/{chart}.svg")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert response.content.startswith(b"<?xml")


def test_an_unknown_chart_is_a_404(staff_client, demo):
    assert staff_client.get(f"/analysis/communities/{demo.pk}/charts/pie.svg").status_code == 404


def test_the_overview_links_the_communities_one_may_read(reader_client, demo):
    both = reader_client(PRODUCER.muid, CONSUMER.muid).get("/analysis/").content.decode()
    one = reader_client(CONSUMER.muid).get("/analysis/").content.decode()

    assert f'href="/analysis/communities/{demo.pk}/"' in both
    assert "/analysis/communities/" not in one
    assert "What-if" not in one


@pytest.mark.parametrize("path", ["", "charts/flows.svg"])
def test_a_community_with_an_ungranted_unit_is_a_404_and_shows_nothing(reader_client, demo, path):
    response = reader_client(CONSUMER.muid).get(f"/analysis/communities/{demo.pk}/{path}")

    assert response.status_code == 404
    assert str(PRODUCER.muid) not in response.content.decode()


def test_bad_parameters_are_a_400_page_naming_them(staff_client, demo):
    response = page(staff_client, demo, tz="Mars/Base", interval="year")

    assert response.status_code == 400
    html = response.content.decode()
    assert "<code>tz</code>" in html
    assert "<code>interval</code>" in html


@pytest.mark.django_db
def test_quarter_hours_with_a_members_reading_missing_are_counted_and_listed(staff_client):
    community = Community.objects.create(name="Street", kind="leg")
    start = datetime(2023, 6, 1, 8, tzinfo=UTC)
    for role, code, skip in (("consumer", IMPORT, {2}), ("producer", EXPORT, set())):
        unit = UnitFactory()
        Member.objects.create(community=community, unit=unit, role=role)
        channel = ChannelFactory(
            unit=unit,
            obis=code,
            first_reading_at=start,
            last_reading_at=start + timedelta(minutes=45),
            reading_count=4,
        )
        for i in range(4):
            if i not in skip:
                ReadingFactory(
                    channel=channel, timestamp=start + i * timedelta(minutes=15), value="0.1"
                )

    html = page(staff_client, community, interval="15min").content.decode()

    assert "3 of 4 quarter hours in the window are counted." in html
    assert "<strong>1 incomplete</strong>" in html
    assert "the first: 2023-06-01 10:30" in html


@pytest.mark.django_db
def test_static_allocation_is_stated_with_its_unallocated_energy(staff_client):
    community = Community.objects.create(name="Shares", kind="zev", allocation="static")
    start = datetime(2023, 6, 1, 8, tzinfo=UTC)
    for role, code, share, value in (
        ("consumer", IMPORT, Decimal("0.5"), "0.1"),
        ("producer", EXPORT, None, "1"),
    ):
        unit = UnitFactory()
        Member.objects.create(community=community, unit=unit, role=role, share=share)
        channel = ChannelFactory(
            unit=unit, obis=code, first_reading_at=start, last_reading_at=start, reading_count=1
        )
        ReadingFactory(channel=channel, timestamp=start, value=value)

    html = page(staff_client, community).content.decode()

    assert "what a cap leaves is <em>not</em> given to the other consumers" in html
    assert '<th scope="col">Unallocated</th>' in html
    assert Unit.objects.count() == 2
