"""DATABASE_WORK_MEM and DATABASE_TEMP_BUFFERS: the memory PostgreSQL gives each sort or hash
of the API's aggregates, and each session's temporary tables (where the ingest stages its
rows)."""

import sys

import pytest

from tests.deploy.conftest import clean_environment, run
from tests.deploy.test_settings import SECRET_KEY, settings_under

POSTGRES = "postgres://exnaton@db:5432/exnaton"


def options(**variables: str) -> dict:
    environment = clean_environment(DJANGO_SECRET_KEY=SECRET_KEY, **variables)
    return settings_under(environment, "DATABASES")["DATABASES"]["default"].get("OPTIONS", {})


def test_postgresql_connections_get_256mb_of_temp_buffers_and_32mb_of_work_mem_by_default():
    assert options(DATABASE_URL=POSTGRES)["options"] == "-c temp_buffers=256MB -c work_mem=32MB"


def test_it_keeps_options_given_in_the_url():
    url = f"{POSTGRES}?options=-c%20statement_timeout%3D5000"
    assert options(DATABASE_URL=url, DATABASE_WORK_MEM="64MB")["options"] == (
        "-c statement_timeout=5000 -c temp_buffers=256MB -c work_mem=64MB"
    )


def test_empty_leaves_the_server_setting_and_sqlite_is_untouched():
    assert options(DATABASE_URL=POSTGRES, DATABASE_WORK_MEM="")["options"] == (
        "-c temp_buffers=256MB"
    )
    assert options(DATABASE_URL=POSTGRES, DATABASE_TEMP_BUFFERS="")["options"] == (
        "-c work_mem=32MB"
    )
    # Nothing at all: for a connection pooler that refuses startup options.
    assert "options" not in options(
        DATABASE_URL=POSTGRES, DATABASE_WORK_MEM="", DATABASE_TEMP_BUFFERS=""
    )
    assert "options" not in options()


@pytest.mark.parametrize(
    ("variable", "default"), [("DATABASE_WORK_MEM", "32MB"), ("DATABASE_TEMP_BUFFERS", "256MB")]
)
def test_it_rejects_a_size_without_a_unit(variable, default):
    environment = clean_environment(
        DJANGO_SECRET_KEY=SECRET_KEY, DATABASE_URL=POSTGRES, **{variable: "32"}
    )
    result = run([sys.executable, "-c", "import exnaton.settings"], environment)
    assert result.returncode != 0
    assert f"{variable} must be a size such as {default}, got '32'" in result.stderr
