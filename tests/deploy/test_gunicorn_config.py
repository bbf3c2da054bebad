"""deploy/gunicorn.conf.py: gunicorn's settings from the environment."""

import runpy

import pytest
from django.conf import settings as django_settings

from tests.deploy.conftest import PROJECT, VENV_BIN, clean_environment, run

CONFIG = PROJECT / "deploy" / "gunicorn.conf.py"
TUNABLES = (
    "WEB_CONCURRENCY",
    "GUNICORN_THREADS",
    "GUNICORN_TIMEOUT",
    "GUNICORN_BIND",
    "GUNICORN_LOG_LEVEL",
    "PORT",
)


@pytest.fixture
def gunicorn_config(monkeypatch):
    """Load the config file as gunicorn does, under the given environment variables."""

    def load(**variables: str) -> dict:
        for name in TUNABLES:
            monkeypatch.delenv(name, raising=False)
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(str(CONFIG))

    return load


def test_workers_threads_and_timeout_come_from_the_environment(gunicorn_config):
    config = gunicorn_config(WEB_CONCURRENCY="3", GUNICORN_THREADS="8", GUNICORN_TIMEOUT="90")

    assert (config["workers"], config["threads"], config["timeout"]) == (3, 8, 90)


def test_it_listens_on_all_interfaces_at_port(gunicorn_config):
    assert gunicorn_config(PORT="9000")["bind"] == "0.0.0.0:9000"


def test_a_full_bind_address_overrides_the_port(gunicorn_config):
    config = gunicorn_config(PORT="9000", GUNICORN_BIND="127.0.0.1:9001")

    assert config["bind"] == "127.0.0.1:9001"


@pytest.mark.parametrize("value", ["0", "two"])
def test_a_worker_count_that_is_not_a_positive_integer_is_refused(gunicorn_config, value):
    with pytest.raises(SystemExit, match="WEB_CONCURRENCY must be a positive integer"):
        gunicorn_config(WEB_CONCURRENCY=value)


def test_access_and_error_logs_go_to_stdout_in_the_django_log_format(gunicorn_config):
    config = gunicorn_config()

    handler = config["logconfig_dict"]["handlers"]["stdout"]
    assert handler["stream"] == "ext://sys.stdout"
    assert handler["formatter"] == django_settings.LOG_FORMAT
    assert config["logconfig_dict"]["formatters"] == django_settings.LOG_FORMATTERS
    assert {
        config["logconfig_dict"]["loggers"][name]["handlers"][0]
        for name in ("gunicorn.access", "gunicorn.error")
    } == {"stdout"}


def test_gunicorn_accepts_the_config_and_loads_the_application():
    environment = clean_environment(DJANGO_SECRET_KEY="x" * 50)
    gunicorn = str(VENV_BIN / "gunicorn")

    result = run(
        [gunicorn, "--check-config", "--config", str(CONFIG), "exnaton.wsgi:application"],
        environment,
    )

    assert result.returncode == 0, result.stdout + result.stderr
