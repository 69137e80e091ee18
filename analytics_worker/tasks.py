"""Thin Celery tasks: each takes plain JSON arguments and calls one function in services."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.utils import timezone

from analytics_worker import services
from analytics_worker.genesys.queues import queue_list


# acks_late + reject_on_worker_lost: a worker killed mid-fetch leaves the message unacknowledged,
# so another worker reruns it. Safe because report_run is idempotent.
@shared_task(name="analytics_worker.fetch_report", acks_late=True, reject_on_worker_lost=True)
def fetch_report_task(*, spec: dict[str, Any], job_id: str) -> str:
    return services.report_run(spec_data=spec, job_id=job_id)


@shared_task(name="analytics_worker.refresh_due_reports")
def refresh_due_reports_task() -> int:
    return services.saved_reports_enqueue_due(now=timezone.now())


@shared_task(name="analytics_worker.reap_locks")
def reap_locks_task() -> int:
    return services.locks_reap()


@shared_task(name="analytics_worker.refresh_queues")
def refresh_queues_task() -> int:
    return len(queue_list())
