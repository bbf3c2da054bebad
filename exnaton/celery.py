"""The Celery application: polls of the fleet as tasks on RabbitMQ (meters/tasks.py).

Configured from Django's settings (the CELERY_* names in exnaton/settings.py). Without
CELERY_BROKER_URL nothing here is used: the project runs in process, as `make run` does.

    celery --app exnaton worker      consume polls (deploy/entrypoint.sh `worker`)
    celery --app exnaton beat        enqueue the due units every METERS_ENQUEUE_EVERY_SECONDS
"""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exnaton.settings")

app = Celery("exnaton")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_init.connect
def _serve_worker_metrics(**_) -> None:
    """A worker's counters on WORKER_METRICS_PORT, summed over its pool's processes."""
    from meters import metrics

    metrics.serve_worker_metrics()
