"""deploy/gunicorn.conf.py: gunicorn's settings from the environment."""

import json
import runpy
import sys

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
    "GUNICORN_MAX_REQUESTS",
    "GUNICORN_MAX_REQUESTS_JITTER",
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


def test_workers_are_forked_from_an_application_loaded_once_in_the_master(gunicorn_config):
    assert gunicorn_config()["preload_app"] is True


def test_workers_recycle_after_their_limit_plus_a_jitter_of_half_of_it(gunicorn_config):
    assert gunicorn_config()["max_requests"] == 1000
    assert gunicorn_config()["max_requests_jitter"] == 500
    assert gunicorn_config(GUNICORN_MAX_REQUESTS="300")["max_requests_jitter"] == 150
    assert gunicorn_config(GUNICORN_MAX_REQUESTS_JITTER="7")["max_requests_jitter"] == 7


# What gunicorn does with preload_app before it forks: load the application, then when_ready.
WARM_UP = """
import json, runpy, sys
config = runpy.run_path(sys.argv[1])
import exnaton.wsgi
from django.db import connections
from django.template import engines
HEAVY = ("pandas", "matplotlib", "statsmodels.tsa.seasonal", "analysis.views", "meters.api.views")
def seen():
    return sorted(name for name in HEAVY if name in sys.modules)
before = seen()
config["when_ready"](None)
loader = engines["django"].engine.template_loaders[0]
print(json.dumps({
    "before": before,
    "after": seen(),
    "templates": len(loader.get_template_cache),
    "connected": [c.alias for c in connections.all() if c.connection is not None],
}))
"""


def test_the_warm_up_imports_every_view_before_the_fork_and_opens_no_database_connection():
    environment = clean_environment(DJANGO_SECRET_KEY="x" * 50)

    result = run([sys.executable, "-c", WARM_UP, str(CONFIG)], environment)

    assert result.returncode == 0, result.stderr
    warmed = json.loads(result.stdout.splitlines()[-1])
    assert warmed["before"] == []
    assert warmed["after"] == sorted(
        ["pandas", "matplotlib", "statsmodels.tsa.seasonal", "analysis.views", "meters.api.views"]
    )
    assert warmed["templates"] >= 4
    assert warmed["connected"] == []
