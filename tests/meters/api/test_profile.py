"""GET /api/v1/units/{muid}/profile/: the analysis pages' figures of one channel, with the
aggregates' parameters and access rules."""

import uuid

import pytest
from django.test import Client

from analysis.reports import chosen_channel
from tests.conftest import CONSUMER, PRODUCER

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


def profile_url(muid) -> str:
    return f"/api/v1/units/{muid}/profile/"


def test_the_producer_is_pv_feed_in_with_its_figures(api, challenge_data):
    response = api(profile_url(PRODUCER.muid), tz="Europe/Zurich")

    assert response.status_code == 200
    answer = response.json()
    assert answer["obis"] == PRODUCER.obis
    assert answer["passport"]["kind"] == "pv"
    assert answer["verdict"]["headline"].startswith("photovoltaic feed-in")
    assert {f["name"] for f in answer["verdict"]["features"]} >= {"dark_share", "bell_r"}
    load = answer["load"]
    assert load["energy_kwh"] == pytest.approx(float(PRODUCER.total))
    assert load["peak_kw"] == pytest.approx(0.1733 * 4, abs=1e-3)
    assert len(load["daily_peaks"]) == 29  # local days of the UTC month
    assert [m["period"] for m in load["monthly_peaks"]] == ["2023-02", "2023-03"]
    assert len(load["duration_curve"]) == 101
    assert load["duration_curve"][0]["kw"] == load["peak_kw"]
    assert {fit["name"] for fit in answer["standard_profiles"]["fits"]} == {"H25", "G25", "P25"}
    assert set(answer["forecast"]["mase"]) == {"naive_day", "naive_week", "ets"}


def test_figures_are_written_at_the_stored_scale_without_float_noise(api, challenge_data):
    """97.6082 kWh, not the 97.60820000000001 that adding floats gives."""
    answer = api(profile_url(CONSUMER.muid), tz="Europe/Zurich").json()

    assert answer["passport"]["energy_kwh"] == float(CONSUMER.total)
    assert answer["load"]["energy_kwh"] == float(CONSUMER.total)


def test_the_answer_is_what_the_report_page_shows(api, staff_client, challenge_data):
    answer = api(profile_url(CONSUMER.muid)).json()
    page = staff_client.get(f"/analysis/{CONSUMER.muid}/").content.decode()

    assert answer["passport"]["kind"] == "household"
    assert answer["passport"]["headline"].split(" (")[0] in page
    assert answer["passport"]["forecastability"] in page


def test_obis_chooses_the_channel_and_start_end_the_window(api, challenge_data):
    answer = api(
        profile_url(CONSUMER.muid),
        obis="1-0:1.29.0*255",
        start="2023-02-06",
        end="2023-02-13",
        tz="Europe/Zurich",
    ).json()

    assert answer["start"] == "2023-02-06T00:00:00+01:00"
    assert answer["end"] == "2023-02-13T00:00:00+01:00"
    assert len(answer["load"]["daily_peaks"]) == 7
    assert answer["passport"]["completeness"] == 1.0


def test_a_channel_the_unit_lacks_is_a_400_naming_obis(api, challenge_data):
    response = api(profile_url(CONSUMER.muid), obis=PRODUCER.obis)

    assert response.status_code == 400
    assert "has no channel 0100021D00FF" in response.json()["errors"]["obis"][0]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "yesterday-ish"}, "start"),
        ({"tz": "Mars/Olympus"}, "tz"),
        ({"obis": "not-obis"}, "obis"),
        ({"start": "2023-02-10", "end": "2023-02-01"}, "end"),
        ({"start": "2020-01-01", "end": "2023-01-01"}, "end"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_parameter(api, challenge_data, params, field):
    response = api(profile_url(CONSUMER.muid), **params)

    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_a_unit_the_user_may_not_read_is_a_404_like_one_that_does_not_exist(
    reader_client, challenge_data
):
    reader = reader_client(CONSUMER.muid)

    assert reader.get(profile_url(CONSUMER.muid)).status_code == 200
    hidden = reader.get(profile_url(PRODUCER.muid))
    missing = reader.get(profile_url(uuid.uuid4()))
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()


def test_anonymous_requests_are_refused(challenge_data):
    assert Client().get(profile_url(CONSUMER.muid)).status_code in (401, 403)


def test_a_second_request_is_answered_from_the_cache_without_reading(
    api, challenge_data, django_assert_max_num_queries
):
    first = api(profile_url(PRODUCER.muid)).json()

    with django_assert_max_num_queries(6) as queries:
        second = api(profile_url(PRODUCER.muid)).json()

    assert second == first
    assert not any("meters_reading" in q["sql"] for q in queries.captured_queries)


def test_the_operation_is_in_the_openapi_schema(client, db):
    schema = client.get("/api/schema/", {"format": "json"}).json()

    operation = schema["paths"]["/api/v1/units/{muid}/profile/"]["get"]
    assert operation["operationId"] == "unitsProfile"
    assert {p["name"] for p in operation["parameters"]} >= {"muid", "obis", "start", "end", "tz"}
    assert set(operation["responses"]) >= {"200", "400", "404"}


def test_the_channel_rule_is_the_pages_rule(challenge_data):
    from meters.models import Unit

    unit = Unit.objects.prefetch_related("channels").get(muid=CONSUMER.muid)

    assert chosen_channel(unit, None).obis == CONSUMER.obis
    with pytest.raises(ValueError, match="it has: 0100011D00FF"):
        chosen_channel(unit, PRODUCER.obis)
