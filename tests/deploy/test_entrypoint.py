"""deploy/entrypoint.sh and deploy/wait_for_db.py when the database is not there."""

from tests.deploy.conftest import VENV_BIN, free_port, production_environment, run

ENTRYPOINT = "deploy/entrypoint.sh"


def unreachable_database(**variables: str) -> dict[str, str]:
    """Production settings with a database URL on a loopback port nothing listens on."""
    return production_environment(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{free_port()}/exnaton_deploy_none",
        DB_WAIT_TIMEOUT="0",
        **variables,
    )


def test_wait_for_db_gives_up_with_a_clear_message_when_the_database_is_unreachable():
    result = run([str(VENV_BIN / "python"), "deploy/wait_for_db.py"], unreachable_database())

    assert result.returncode == 1
    assert "wait-for-db: database unreachable after 0s" in result.stderr


def test_web_does_not_start_gunicorn_without_a_database():
    result = run([ENTRYPOINT, "web"], unreachable_database())

    assert result.returncode != 0
    assert "Starting gunicorn" not in result.stdout + result.stderr


def test_ingest_does_not_run_without_a_database():
    result = run([ENTRYPOINT, "ingest"], unreachable_database())

    assert result.returncode != 0
    assert "wait-for-db: database unreachable" in result.stderr


def test_other_commands_run_as_given():
    result = run([ENTRYPOINT, "python", "-c", "print('as given')"], production_environment())

    assert result.returncode == 0
    assert result.stdout == "as given\n"


def test_maintain_does_not_run_without_a_database():
    result = run([ENTRYPOINT, "maintain"], unreachable_database())

    assert result.returncode != 0
    assert "wait-for-db: database unreachable" in result.stderr


def test_maintain_creates_the_partitions_ahead_and_prunes_only_when_configured(
    throwaway_database,
):
    env = production_environment(DATABASE_URL=throwaway_database)
    assert run([ENTRYPOINT, "migrate"], env).returncode == 0

    result = run([ENTRYPOINT, "maintain"], {**env, "METERS_RETENTION_DAYS": "0"})

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "every partition was there already"  # the migration made them
    assert lines[-1] == "retention is off (METERS_RETENTION_DAYS=0): nothing pruned"
