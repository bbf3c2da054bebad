#!/bin/sh
# The container's entrypoint. Each command waits for the database first (deploy/wait_for_db.py).
#
#   web                  migrate and register the configured units (unless MIGRATE_ON_START=0),
#                        then gunicorn (deploy/gunicorn.conf.py)
#   migrate              apply migrations, register the configured units (register_units) and
#                        exit (the Kubernetes Job; compose's web does it itself)
#   await-migrations     exit once no migration is pending (the web pods' init container)
#   ingest [ARGS...]     python manage.py ingest_meters ARGS (the compose service and the CronJob)
#   maintain             the readings' upkeep (the daily CronJob): monthly partitions ahead
#                        (create_partitions), then retention (prune_readings; off unless
#                        METERS_RETENTION_DAYS is set)
#   anything else        run as given, e.g. `python manage.py createsuperuser`
#
# Ingestion never runs as part of `web`: it is its own command, run on a schedule.
set -eu
cd "$(dirname "$0")/.."

wait_for_db() {
    python deploy/wait_for_db.py
}

command="${1:-web}"
if [ "$#" -gt 0 ]; then shift; fi

case "$command" in
    web)
        wait_for_db
        if [ "${MIGRATE_ON_START:-1}" = "1" ]; then
            python manage.py migrate --noinput
            python manage.py create_partitions
            python manage.py register_units
        fi
        exec gunicorn --config deploy/gunicorn.conf.py exnaton.wsgi:application
        ;;
    migrate)
        wait_for_db
        python manage.py migrate --noinput
        python manage.py create_partitions
        exec python manage.py register_units
        ;;
    await-migrations)
        wait_for_db
        deadline=$(($(date +%s) + ${MIGRATIONS_WAIT_TIMEOUT:-300}))
        until python manage.py migrate --check >/dev/null; do
            if [ "$(date +%s)" -ge "$deadline" ]; then
                echo "await-migrations: migrations still pending, giving up" >&2
                exit 1
            fi
            echo "await-migrations: migrations pending; retrying in 5s" >&2
            sleep 5
        done
        ;;
    ingest)
        wait_for_db
        exec python manage.py ingest_meters "$@"
        ;;
    maintain)
        wait_for_db
        python manage.py create_partitions
        exec python manage.py prune_readings
        ;;
    *)
        exec "$command" "$@"
        ;;
esac
