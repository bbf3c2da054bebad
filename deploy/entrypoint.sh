#!/bin/sh
# The container's entrypoint. Each command waits for the database first (deploy/wait_for_db.py).
#
#   web                  migrate, complete the rollups and register the configured units (unless
#                        MIGRATE_ON_START=0), then gunicorn (deploy/gunicorn.conf.py)
#   migrate              apply migrations, complete the rollups (rebuild_rollups, nothing to do
#                        unless a migration or a new DJANGO_TIME_ZONE asks), register the
#                        configured units (register_units) and exit (the Kubernetes Job;
#                        compose's web does it itself)
#   await-migrations     exit once no migration is pending (the web pods' init container)
#   ingest [ARGS...]     python manage.py ingest_meters ARGS (the compose service; `ingest --enqueue`
#                        puts the due polls on the task queue)
#   worker [ARGS...]     a Celery worker consuming the polls (CELERY_BROKER_URL), its counters on
#                        WORKER_METRICS_PORT; SIGTERM finishes the task under way, then exits
#   beat [ARGS...]       Celery beat: enqueues the due units every METERS_ENQUEUE_EVERY_SECONDS
#                        (exactly one must run)
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
            python manage.py rebuild_rollups
            python manage.py register_units
        fi
        exec gunicorn --config deploy/gunicorn.conf.py exnaton.wsgi:application
        ;;
    migrate)
        wait_for_db
        python manage.py migrate --noinput
        python manage.py create_partitions
        python manage.py rebuild_rollups
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
    worker)
        # The pool's processes count in files here, summed when scraped (meters/metrics.py);
        # a new worker starts from zero, as Prometheus expects of a restarted process. Every
        # process that loads the project counts there, so it exists before the first does.
        PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-/tmp/prometheus}"
        export PROMETHEUS_MULTIPROC_DIR
        rm -rf "$PROMETHEUS_MULTIPROC_DIR"
        mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
        wait_for_db
        exec celery --app exnaton worker \
            --concurrency "${CELERY_WORKER_CONCURRENCY:-1}" \
            --without-mingle --without-gossip \
            --loglevel "${CELERY_LOG_LEVEL:-INFO}" "$@"
        ;;
    beat)
        wait_for_db
        exec celery --app exnaton beat --schedule /tmp/celerybeat-schedule \
            --loglevel "${CELERY_LOG_LEVEL:-INFO}" "$@"
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
