import re

import pytest
import requests
from django.conf import settings
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator


def test_the_schema_passes_drf_spectaculars_validation_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", tmp_path / "api.yaml")

    assert "/api/v1/readings/aggregate/" in (tmp_path / "api.yaml").read_text()


def test_every_query_parameter_has_a_description_and_an_example():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    parameters = [
        parameter
        for path in schema["paths"].values()
        for operation in path.values()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query"
    ]

    assert len(parameters) > 10
    assert all(parameter.get("description") for parameter in parameters)
    assert all(parameter.get("examples") for parameter in parameters)


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
