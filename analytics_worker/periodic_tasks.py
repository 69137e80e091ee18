"""The tasks beat runs on its schedule (settings.CELERY_BEAT_SCHEDULE): thin adapters over
services, which they sit above, since scheduling a saved report enqueues its fetch task."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from analytics_worker import live, services


@shared_task(name="analytics_worker.refresh_due_reports")
def refresh_due_reports_task() -> int:
    return services.saved_reports_enqueue_due(now=timezone.now())


@shared_task(name="analytics_worker.reap_locks")
def reap_locks_task() -> int:
    return services.locks_reap()


@shared_task(name="analytics_worker.refetch_settling_reports")
def refetch_settling_reports_task() -> int:
    return services.saved_reports_refetch_settling(now=timezone.now())


@shared_task(name="analytics_worker.poll_live_queues")
def poll_live_queues_task() -> str:
    return live.live_poll()
