""".env.example documents every setting the project reads, each with a comment, no secret."""

import re

from tests.deploy.conftest import PROJECT

# Where settings are read: django-environ and the settings' own helpers, os.environ in the
# deploy scripts, ${NAME} in the shell entrypoint and the compose file.
READERS = {
    "exnaton/settings.py": r"""(?:env\.\w+|env|_\w+)\(\s*["']([A-Z][A-Z0-9_]+)["']""",
    "deploy/gunicorn.conf.py": r"""(?:os\.environ\.get|_positive_int)\(\s*["']([A-Z][A-Z0-9_]+)""",
    "deploy/wait_for_db.py": r"""os\.environ\.get\(\s*["']([A-Z][A-Z0-9_]+)""",
    "deploy/healthcheck.py": r"""os\.environ\.get\(\s*["']([A-Z][A-Z0-9_]+)""",
    "deploy/entrypoint.sh": r"\$\{([A-Z][A-Z0-9_]+)",
    "docker-compose.yml": r"(?<!\$)\$\{([A-Z][A-Z0-9_]+)",
}
# Read by the tools themselves, not settings of this project.
NOT_SETTINGS = {"DJANGO_SETTINGS_MODULE"}
VARIABLE = re.compile(r"^(?:# )?([A-Z][A-Z0-9_]+)=")


def settings_read() -> set[str]:
    names = set()
    for path, pattern in READERS.items():
        names |= set(re.findall(pattern, (PROJECT / path).read_text()))
    return names - NOT_SETTINGS


def example_lines() -> list[str]:
    return (PROJECT / ".env.example").read_text().splitlines()


def documented() -> set[str]:
    return {match[1] for line in example_lines() if (match := VARIABLE.match(line))}


def test_the_readers_find_the_settings_they_look_for():
    # Guards the patterns above: a few names from each kind of reader.
    assert {"DJANGO_SECRET_KEY", "DATABASE_URL", "WEB_CONCURRENCY", "MIGRATE_ON_START"} <= (
        settings_read()
    )


def test_every_setting_the_project_reads_is_in_env_example():
    assert sorted(settings_read() - documented()) == []


def test_every_variable_in_env_example_comes_after_a_comment():
    # A run of variable lines (a setting and its siblings) starts right below a comment.
    uncommented = []
    above_run = previous = ""
    for line in example_lines():
        if VARIABLE.match(line):
            if not VARIABLE.match(previous):
                above_run = previous
            if not above_run.startswith("#"):
                uncommented.append(line)
        previous = line
    assert uncommented == []


def test_env_example_commits_no_secret():
    values = dict(line.split("=", 1) for line in example_lines() if VARIABLE.match(line))

    assert (values["DJANGO_SECRET_KEY"], values["POSTGRES_PASSWORD"]) == ("", "")
    assert (values["RABBITMQ_PASSWORD"], values["METRICS_TOKEN"]) == ("", "")
