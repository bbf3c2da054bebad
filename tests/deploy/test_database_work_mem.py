"""DATABASE_WORK_MEM: the memory PostgreSQL gives each sort or hash of the API's aggregates;
and the memory of each session's temporary tables, where the ingest stages its rows."""

import sys

from tests.deploy.conftest import clean_environment, run
from tests.deploy.test_settings import SECRET_KEY, settings_under

POSTGRES = "postgres://exnaton@db:5432/exnaton"


def options(**variables: str) -> dict:
    environment = clean_environment(DJANGO_SECRET_KEY=SECRET_KEY, **variables)
    return settings_under(environment, "DATABASES")["DATABASES"]["default"].get("OPTIONS", {})


def test_postgresql_connections_get_32mb_by_default():
    assert options(DATABASE_URL=POSTGRES)["options"] == "-c temp_buffers=256MB -c work_mem=32MB"


def test_it_keeps_options_given_in_the_url():
    url = f"{POSTGRES}?options=-c%20statement_timeout%3D5000"
    assert options(DATABASE_URL=url, DATABASE_WORK_MEM="64MB")["options"] == (
        "-c statement_timeout=5000 -c temp_buffers=256MB -c work_mem=64MB"
    )


def test_empty_leaves_the_server_setting_and_sqlite_is_untouched():
    only_temp_buffers = options(DATABASE_URL=POSTGRES, DATABASE_WORK_MEM="")["options"]
    assert only_temp_buffers == "-c temp_buffers=256MB"
    assert "options" not in options()


def test_it_rejects_a_size_without_a_unit():
    environment = clean_environment(
        DJANGO_SECRET_KEY=SECRET_KEY, DATABASE_URL=POSTGRES, DATABASE_WORK_MEM="32"
    )
    result = run([sys.executable, "-c", "import exnaton.settings"], environment)
    assert result.returncode != 0
    assert "DATABASE_WORK_MEM must be a size such as 32MB, got '32'" in result.stderr
