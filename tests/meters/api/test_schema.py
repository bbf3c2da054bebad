import re
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator

from meters.api.docs import BUNDLE, REDOCLY_LOGO, SOURCE_MAP
from tests.conftest import CONSUMER


def test_the_schema_passes_drf_spectaculars_validation_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", tmp_path / "api.yaml")

    assert "/api/v1/readings/aggregate/" in (tmp_path / "api.yaml").read_text()


def served_schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema: dict) -> dict[str, dict]:
    return {
        f"{method.upper()} {path}": operation
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    }


def query_parameters(schema: dict) -> list[tuple[str, dict]]:
    return [
        (label, parameter)
        for label, operation in operations(schema).items()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query"
    ]


def first_example(parameter: dict):
    return next(iter(parameter["examples"].values()))["value"]


def test_every_query_parameter_has_a_description_and_an_example():
    parameters = [parameter for _label, parameter in query_parameters(served_schema())]

    assert len(parameters) > 10
    assert all(parameter.get("description") for parameter in parameters)
    assert all(parameter.get("examples") for parameter in parameters)


def test_swagger_prefills_no_filter_so_the_first_try_answers_everything_one_may_read():
    # Swagger UI's "Try it out" fills each parameter with its first example.
    prefilled = {
        (label, parameter["name"]): first_example(parameter)
        for label, parameter in query_parameters(served_schema())
    }

    optional = ("muid", "obis", "quality", "start", "end", "cursor")
    # Empty of its type: no value of a list filter, an empty string of a single one.
    empty = {
        (label, parameter["name"]): [] if parameter["schema"]["type"] == "array" else ""
        for label, parameter in query_parameters(served_schema())
    }
    assert {key: value for key, value in prefilled.items() if key[1] in optional} == {
        key: empty[key] for key in prefilled if key[1] in optional
    }
    assert prefilled["GET /api/v1/readings/aggregate/", "interval"] == "day"
    assert prefilled["GET /api/v1/readings/aggregate/", "agg"] == "sum"
    assert prefilled["GET /api/v1/readings/aggregate/", "tz"] == settings.TIME_ZONE


def test_no_operation_offers_format_so_json_operations_answer_json():
    names = {parameter["name"] for _label, parameter in query_parameters(served_schema())}

    assert "format" not in names


def test_each_answer_has_one_media_type_and_errors_are_json():
    for label, operation in operations(served_schema()).items():
        for status, response in operation["responses"].items():
            media_types = list(response.get("content", {}))
            expected = (
                ["text/csv"]
                if status == "200" and label.endswith("/csv/")
                else []
                if status == "204"  # a deletion answers no body
                else ["application/json"]
            )
            assert media_types == expected, (label, status)


def test_the_csv_operations_answer_text_a_client_reads_as_a_string():
    schema = served_schema()
    for path in ("/api/v1/readings/csv/", "/api/v1/readings/aggregate/csv/"):
        answer = schema["paths"][path]["get"]["responses"]["200"]["content"]["text/csv"]
        assert answer["schema"] == {"type": "string"}


def test_a_muid_filter_is_a_uuid_pattern_that_swagger_ui_can_render():
    # An array of `format: uuid` items makes Swagger UI log "Could not find component:
    # JsonSchema_string_uuid".
    for _label, parameter in query_parameters(served_schema()):
        if parameter["name"] == "muid":
            assert "format" not in parameter["schema"]["items"]
            assert re.fullmatch(parameter["schema"]["items"]["pattern"], str(CONSUMER.muid))


def test_every_field_of_an_answer_is_required_and_closed_choices_are_enums():
    components = served_schema()["components"]["schemas"]

    for name in ("Unit", "Channel", "Aggregate", "Bucket", "Reading", "ReadingPage"):
        assert sorted(components[name]["required"]) == sorted(components[name]["properties"])
    assert components["IntervalEnum"]["enum"] == ["15min", "hour", "day", "week", "month"]
    assert components["AggEnum"]["enum"] == ["sum", "avg", "min", "max", "count"]
    interval = components["Aggregate"]["properties"]["interval"]
    assert interval["allOf"][0]["$ref"] == "#/components/schemas/IntervalEnum"


def test_the_schema_is_served(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    assert response.json()["info"]["title"] == "Exnaton meter data API"


def assets(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_the_docs_pages_load_every_asset_from_the_projects_own_static_files(live_server, page):
    html = requests.get(live_server.url + page, timeout=5).text
    links = assets(html)

    assert links
    assert all(link.startswith("/") and not link.startswith("//") for link in links)
    for link in links:
        assert requests.get(live_server.url + link, timeout=5).status_code == 200, link
    assert any(link.startswith(settings.STATIC_URL) for link in links)
    assert "http://" not in html.replace(live_server.url, "")
    assert "https://" not in html


def test_the_browsable_api_stays_on(staff_client):
    response = staff_client.get("/api/v1/units/", HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert b"Django REST framework" in response.content


def test_the_redoc_bundle_draws_its_logo_from_this_site(client):
    response = client.get("/api/redoc/redoc.standalone.js")
    bundle = response.content.decode()

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert "cdn.redoc.ly" not in bundle
    assert f"{settings.STATIC_URL}exnaton/logo.svg" in bundle
    sidecar = Path(finders.find(BUNDLE)).read_text(encoding="utf-8")
    assert bundle == sidecar.replace(REDOCLY_LOGO, "/static/exnaton/logo.svg").replace(
        SOURCE_MAP, ""
    )
