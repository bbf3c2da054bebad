"""The API's index at /api/v1/: every endpoint of the schema, the schema and the docs."""

from drf_spectacular.generators import SchemaGenerator


def test_the_index_of_v1_lists_every_path_of_the_schema(client):
    response = client.get("/api/v1/")
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]

    assert response.status_code == 200
    listed = {link.removeprefix("http://testserver") for link in response.json().values()}
    assert set(paths) <= listed
    assert {"/api/schema/", "/api/docs/", "/api/redoc/"} <= listed


def test_the_index_names_endpoints_not_data_so_it_needs_no_login(client):
    response = client.get("/api/v1/")

    assert response.status_code == 200
    assert "aggregate" in response.json()


def test_the_data_endpoints_still_need_a_login(client):
    assert client.get("/api/v1/units/").status_code == 401


def test_api_sends_a_browser_to_the_index_of_v1(client):
    response = client.get("/api/")

    assert response.status_code == 302
    assert response["Location"] == "/api/v1/"


def test_the_index_is_browsable(staff_client):
    response = staff_client.get("/api/v1/", HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert b"/api/v1/readings/aggregate/" in response.content
