"""Thin Celery tasks: each takes plain JSON arguments and calls one function below it.

Only services (above) enqueues them; beat's periodic tasks are in periodic_tasks.py, and the
worker and beat heartbeats in heartbeats.py.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from analytics_worker.fetch import report_job_run
from analytics_worker.genesys.queues import queue_list
from analytics_worker.genesys.users import user_names_load


# acks_late + reject_on_worker_lost: a worker killed mid-fetch leaves the message unacknowledged,
# so another worker reruns it. Safe because report_job_run is idempotent.
@shared_task(name="analytics_worker.fetch_report", acks_late=True, reject_on_worker_lost=True)
def fetch_report_task(*, spec: dict[str, Any], job_id: str) -> str:
    return report_job_run(spec_data=spec, job_id=job_id)


@shared_task(name="analytics_worker.refresh_queues")
def refresh_queues_task() -> int:
    return len(queue_list())


@shared_task(name="analytics_worker.refresh_users")
def refresh_users_task() -> int:
    return user_names_load()
