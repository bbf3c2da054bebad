"""Production settings, read the way a container reads them: a fresh process, its environment."""

import json
import secrets
import sys
from datetime import datetime

import pytest
import yaml

from tests.deploy.conftest import PROJECT, clean_environment, manage, run

READ_SETTINGS = (
    "import json, sys, exnaton.settings as s; "
    "print(json.dumps({n: getattr(s, n) for n in sys.argv[1:]}, default=str))"
)
SECRET_KEY = secrets.token_urlsafe(50)


def settings_under(environment: dict[str, str], *names: str) -> dict:
    """The named settings as exnaton/settings.py computes them under `environment`."""
    result = run([sys.executable, "-c", READ_SETTINGS, *names], environment)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def env_example() -> dict[str, str]:
    """The variables .env.example sets (commented-out lines are only documentation)."""
    lines = (PROJECT / ".env.example").read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if line and not line.startswith("#"))
    return {name.strip(): value.strip() for name, value in pairs}


def configmap() -> dict[str, str]:
    return yaml.safe_load((PROJECT / "deploy/k8s/configmap.yaml").read_text())["data"]


def test_debug_is_off_by_default():
    assert settings_under(clean_environment(DJANGO_SECRET_KEY=SECRET_KEY), "DEBUG") == {
        "DEBUG": False
    }


def test_it_refuses_to_start_without_a_secret_key_when_debug_is_off():
    # Set, but empty: a developer's .env cannot fill it in for this test.
    result = manage("check", env=clean_environment(DJANGO_SECRET_KEY=""))

    assert result.returncode != 0
    assert "ImproperlyConfigured: DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off" in (
        result.stderr
    )


def test_allowed_hosts_and_csrf_trusted_origins_come_from_the_environment():
    environment = clean_environment(
        DJANGO_SECRET_KEY=SECRET_KEY,
        DJANGO_ALLOWED_HOSTS="exnaton.example.com,.exnaton.internal",
        DJANGO_CSRF_TRUSTED_ORIGINS="https://exnaton.example.com",
    )

    assert settings_under(environment, "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS") == {
        "ALLOWED_HOSTS": ["exnaton.example.com", ".exnaton.internal"],
        "CSRF_TRUSTED_ORIGINS": ["https://exnaton.example.com"],
    }


def test_cors_origins_come_from_the_environment_and_a_malformed_one_stops_the_checks():
    environment = clean_environment(
        DJANGO_SECRET_KEY=SECRET_KEY,
        DJANGO_CORS_ALLOWED_ORIGINS="https://app.example.com,http://localhost:5173",
    )
    assert settings_under(environment, "CORS_ALLOWED_ORIGINS") == {
        "CORS_ALLOWED_ORIGINS": ["https://app.example.com", "http://localhost:5173"]
    }

    # A host without its scheme: the checks that migrate runs refuse it.
    result = manage(
        "check",
        env=clean_environment(DJANGO_SECRET_KEY=SECRET_KEY, DJANGO_CORS_ALLOWED_ORIGINS="app.x"),
    )
    assert result.returncode != 0
    assert "corsheaders.E013" in result.stderr


def test_production_defaults_are_secure_cookies_hsts_and_the_https_redirect():
    environment = clean_environment(DJANGO_SECRET_KEY=SECRET_KEY)

    assert settings_under(
        environment,
        "SECURE_SSL_REDIRECT",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    ) == {
        "SECURE_SSL_REDIRECT": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": 3600,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
    }


def test_debug_mode_serves_plain_http_for_make_run():
    environment = clean_environment(DJANGO_DEBUG="1")

    assert settings_under(
        environment, "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "SECURE_HSTS_SECONDS"
    ) == {"SECURE_SSL_REDIRECT": False, "SESSION_COOKIE_SECURE": False, "SECURE_HSTS_SECONDS": 0}


@pytest.mark.parametrize("header", ["X-Forwarded-Proto,https", "HTTP_X_FORWARDED_PROTO,https"])
def test_the_proxy_ssl_header_is_read_as_header_name_and_value(header):
    environment = clean_environment(
        DJANGO_SECRET_KEY=SECRET_KEY, DJANGO_SECURE_PROXY_SSL_HEADER=header
    )

    assert settings_under(environment, "SECURE_PROXY_SSL_HEADER") == {
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"]
    }


def test_no_proxy_ssl_header_is_trusted_unless_configured():
    environment = clean_environment(DJANGO_SECRET_KEY=SECRET_KEY)

    assert settings_under(environment, "SECURE_PROXY_SSL_HEADER") == {
        "SECURE_PROXY_SSL_HEADER": None
    }


def test_a_proxy_ssl_header_without_a_value_is_refused_clearly():
    environment = clean_environment(
        DJANGO_SECRET_KEY=SECRET_KEY, DJANGO_SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto"
    )

    result = manage("check", env=environment)

    assert result.returncode != 0
    assert "DJANGO_SECURE_PROXY_SSL_HEADER must be 'Header-Name,value'" in result.stderr


def test_an_unknown_log_format_is_refused_clearly():
    environment = clean_environment(DJANGO_SECRET_KEY=SECRET_KEY, DJANGO_LOG_FORMAT="xml")

    result = manage("check", env=environment)

    assert result.returncode != 0
    assert "DJANGO_LOG_FORMAT must be json or plain, got 'xml'" in result.stderr


def test_production_logs_are_json_lines_on_stdout_with_a_utc_timestamp():
    script = (
        "import django, logging; django.setup(); "
        "logging.getLogger('exnaton.probe').warning('disk %s', 'full')"
    )
    environment = clean_environment(
        DJANGO_SECRET_KEY=SECRET_KEY, DJANGO_SETTINGS_MODULE="exnaton.settings"
    )

    result = run([sys.executable, "-c", script], environment)

    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert record["level"] == "WARNING"
    assert record["logger"] == "exnaton.probe"
    assert record["message"] == "disk full"
    assert datetime.fromisoformat(record["time"]).utcoffset().total_seconds() == 0


def test_check_deploy_is_clean_with_the_environment_of_env_example():
    environment = clean_environment(**{**env_example(), "DJANGO_SECRET_KEY": SECRET_KEY})

    result = manage("check", "--deploy", "--fail-level", "WARNING", env=environment)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_is_clean_with_the_kubernetes_configmap():
    environment = clean_environment(**{**configmap(), "DJANGO_SECRET_KEY": SECRET_KEY})

    result = manage("check", "--deploy", "--fail-level", "WARNING", env=environment)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def compose_environment() -> dict[str, str]:
    compose = yaml.safe_load((PROJECT / "docker-compose.yml").read_text())
    return compose["x-app"]["environment"]


# A report page and its chart images are often served by different gunicorn workers: the
# deployed cache must be one all workers of a container read, not local memory per process.
@pytest.mark.parametrize(
    "cache_url",
    [configmap()["CACHE_URL"], compose_environment()["CACHE_URL"].split(":-", 1)[1].rstrip("}")],
    ids=["kubernetes", "compose"],
)
def test_deployments_share_one_cache_between_gunicorn_workers(cache_url):
    environment = clean_environment(DJANGO_SECRET_KEY=SECRET_KEY, CACHE_URL=cache_url)

    cache = settings_under(environment, "CACHES")["CACHES"]["default"]

    assert cache["BACKEND"] == "exnaton.cache.SizeBoundedFileCache"
    assert cache["LOCATION"].startswith("/tmp/")  # noqa: S108 - the container's writable path


def tmp_size_limit() -> int:
    """Bytes of the Kubernetes pod's /tmp emptyDir."""
    deployment = yaml.safe_load((PROJECT / "deploy/k8s/deployment.yaml").read_text())
    (tmp,) = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "tmp"]
    limit = tmp["emptyDir"]["sizeLimit"]
    assert limit.endswith("Mi")
    return int(limit[:-2]) * 2**20


def test_the_deployed_file_cache_is_bounded_by_bytes_well_inside_the_pods_tmp():
    environment = clean_environment(
        DJANGO_SECRET_KEY=SECRET_KEY, CACHE_URL=configmap()["CACHE_URL"]
    )

    cache = settings_under(environment, "CACHES")["CACHES"]["default"]

    # Room beside it for entries being written (one report's are megabytes, a few threads at
    # once) and matplotlib's cache.
    assert 0 < cache["OPTIONS"]["MAX_BYTES"] <= tmp_size_limit() // 2


def test_the_local_memory_cache_of_development_is_bounded_by_bytes_too():
    environment = clean_environment(DJANGO_SECRET_KEY=SECRET_KEY, CACHE_MAX_BYTES="1000000")

    cache = settings_under(environment, "CACHES")["CACHES"]["default"]

    assert cache["BACKEND"] == "exnaton.cache.SizeBoundedLocMemCache"
    assert cache["OPTIONS"]["MAX_BYTES"] == 1_000_000


def test_a_redis_cache_url_finds_its_pinned_client_library():
    environment = clean_environment(DJANGO_SECRET_KEY=SECRET_KEY, CACHE_URL="redis://cache:6379/1")
    # Building the client imports `redis` (no connection yet): without the package, an error.
    script = "from django.core.cache import cache; print(type(cache._cache).__name__)"

    result = run([sys.executable, "manage.py", "shell", "-c", script], environment)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "RedisCacheClient"


def test_client_addresses_come_from_remote_addr_unless_proxies_are_configured():
    default = settings_under(clean_environment(DJANGO_SECRET_KEY=SECRET_KEY), "REST_FRAMEWORK")
    behind_one = settings_under(
        clean_environment(DJANGO_SECRET_KEY=SECRET_KEY, DJANGO_NUM_PROXIES="1"), "REST_FRAMEWORK"
    )

    assert default["REST_FRAMEWORK"]["NUM_PROXIES"] == 0
    assert behind_one["REST_FRAMEWORK"]["NUM_PROXIES"] == 1
    assert configmap()["DJANGO_NUM_PROXIES"] == "1"


def test_a_negative_proxy_count_is_refused_clearly():
    result = manage(
        "check", env=clean_environment(DJANGO_SECRET_KEY=SECRET_KEY, DJANGO_NUM_PROXIES="-1")
    )

    assert result.returncode != 0
    assert "DJANGO_NUM_PROXIES must be 0 or more, got -1." in result.stderr
