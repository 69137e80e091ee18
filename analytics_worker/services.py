"""Reading reports and starting their fetches: the cache lookup, single flight, saved-report
scheduling and the queue list for the filter form.

Above the tasks: this is the only code that enqueues them. The tasks call the fetch code below
(analytics_worker.fetch), which never imports this module.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from django.conf import settings
from django.db.models import F

from analytics_worker import cache
from analytics_worker.genesys.queues import queue_list_cached
from analytics_worker.models import SavedReport
from analytics_worker.reports import ReportSpec, ReportSpecError, report_spec_build
from analytics_worker.tasks import fetch_report_task, refresh_queues_task

logger = logging.getLogger(__name__)

LookupStatus = Literal["fresh", "stale", "pending"]


class WorkerUnavailable(Exception):
    """The job could not be handed to Celery; the message is safe to show."""


class FetchLimitReached(Exception):
    """The caller may not start another fetch now (may_start said no); safe to show."""


@dataclass(frozen=True)
class ReportLookup:
    status: LookupStatus
    spec: ReportSpec
    cached: cache.CachedReport | None  # set when fresh or stale
    job_id: str | None  # the job refreshing or fetching the report, if any


def report_lookup(
    *,
    spec: ReportSpec,
    force: bool = False,
    may_start: Callable[[], bool] | None = None,
    read_cap: cache.Throttle | None = None,
) -> ReportLookup:
    """Fresh: serve. Stale: serve and make sure one refresh runs. Miss: join or start the job.

    `force` (an admin's refresh) fetches even a fresh report, but still joins a running job.
    `may_start` is asked only before a new fetch would start (joining one is free); when it
    says no, a stale report is served without a refresh and a miss raises FetchLimitReached.
    `read_cap` counts the read against the reader's cap in the same Redis round trip as the
    read itself; past it, cache.ReadLimitReached.
    Raises cache.CacheUnavailable when Redis is down, WorkerUnavailable when Celery is.
    """
    outcome, cached = cache.result_lookup(
        report_key=spec.key, now=time.time(), force=force, read_cap=read_cap
    )
    if outcome == "fresh":
        return ReportLookup(status="fresh", spec=spec, cached=cached, job_id=None)
    try:
        job_id: str | None = report_job_ensure(spec=spec, may_start=may_start)
    except FetchLimitReached:
        if cached is None:
            raise
        job_id = None
    status: LookupStatus = "stale" if cached is not None else "pending"
    return ReportLookup(status=status, spec=spec, cached=cached, job_id=job_id)


def report_job_ensure(*, spec: ReportSpec, may_start: Callable[[], bool] | None = None) -> str:
    """Single-flight: return the id of the one job fetching this report, starting it if needed
    (and if `may_start` allows; otherwise FetchLimitReached)."""
    # Two rounds at most: the second runs after reaping a lock whose job had already ended.
    for _ in range(2):
        job_id = str(uuid.uuid4())
        # The job's record goes in before its lock: whoever finds the lock finds the job too.
        # The other way round, a requester arriving in between took the starting job for an
        # orphan, reaped its lock and started a second fetch (bench 5 saw 6 of 50).
        cache.job_create(job_id=job_id, report_key=spec.key, spec=spec.to_dict())
        if cache.lock_acquire(
            report_key=spec.key, job_id=job_id, ttl_seconds=settings.CELERY_TASK_TIME_LIMIT + 60
        ):
            if may_start is not None and not may_start():
                cache.lock_release(report_key=spec.key, job_id=job_id)
                cache.job_delete(job_id=job_id)
                raise FetchLimitReached(
                    "You started too many new fetches in the last minute; wait a moment."
                )
            _enqueue(spec=spec, job_id=job_id)
            return job_id
        cache.job_delete(job_id=job_id)  # another requester holds the lock: join its job
        holder = cache.lock_holder(report_key=spec.key)
        if holder is None:
            continue  # the lock expired between SET NX and GET
        if not _lock_is_orphaned(holder):
            return holder
        cache.lock_release(report_key=spec.key, job_id=holder)
    raise WorkerUnavailable("Could not start a fetch for this report; try again in a moment.")


def _enqueue(*, spec: ReportSpec, job_id: str) -> None:
    try:
        fetch_report_task.apply_async(
            kwargs={"spec": spec.to_dict(), "job_id": job_id},
            task_id=job_id,
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
        )
    except Exception as exc:  # kombu raises several types for a broker that is down
        logger.error("enqueue failed report=%s job=%s: %s", spec.key, job_id, exc)
        message = "The task queue is unavailable, so the report cannot be fetched right now."
        cache.job_update(job_id=job_id, state="failed", message=message)
        cache.lock_release(report_key=spec.key, job_id=job_id)
        raise WorkerUnavailable(message) from exc


def _lock_is_orphaned(job_id: str) -> bool:
    job = cache.job_get(job_id=job_id)
    return job is None or job.get("state") in cache.TERMINAL_STATES


def locks_reap() -> int:
    """Delete locks whose job has ended or vanished (Redash's "ghost locks" after a crash)."""
    reaped = 0
    for report_key in cache.lock_report_keys():
        holder = cache.lock_holder(report_key=report_key)
        if holder is not None and _lock_is_orphaned(holder):
            cache.lock_release(report_key=report_key, job_id=holder)
            reaped += 1
    return reaped


def saved_report_spec(report: SavedReport, *, now: datetime) -> ReportSpec:
    return report_spec_build(
        params=report.params, now=now, default_time_zone=settings.REPORT_DEFAULT_TIME_ZONE
    )


def saved_reports_enqueue_due(*, now: datetime) -> int:
    """Beat's minute tick: start one fetch for each enabled saved report that is due and stale.

    A report missed for an hour while beat was down is fetched once, not once per missed tick:
    next_due_at moves from now, not from the old due time.
    """
    started = 0
    for report in SavedReport.objects.filter(enabled=True, next_due_at__lte=now):
        # Claim the row first: two beats (or a double tick) must not both enqueue it.
        claimed = SavedReport.objects.filter(pk=report.pk, next_due_at=report.next_due_at).update(
            next_due_at=now + timedelta(seconds=report.refresh_seconds)
        )
        if claimed != 1:
            continue
        try:
            spec = saved_report_spec(report, now=now)
        except ReportSpecError as exc:
            SavedReport.objects.filter(pk=report.pk).update(
                last_error=f"Invalid filters: {exc}",
                last_error_at=now,
                consecutive_failures=F("consecutive_failures") + 1,
            )
            continue
        SavedReport.objects.filter(pk=report.pk).update(
            last_report_key=spec.key, last_enqueued_at=now
        )
        cached = cache.result_get(report_key=spec.key)
        if cached is not None and cached.is_fresh(now=time.time()):
            continue
        report_job_ensure(spec=spec)
        started += 1
    return started


def saved_report_refresh(*, report: SavedReport, now: datetime) -> str:
    """An admin's "refresh now" for a saved report: fetch even if fresh (joins a running job)."""
    spec = saved_report_spec(report, now=now)
    SavedReport.objects.filter(pk=report.pk).update(last_report_key=spec.key, last_enqueued_at=now)
    return report_lookup(spec=spec, force=True).job_id or ""


def queue_choices() -> list[tuple[str, str]]:
    """(id, name) of the org's queues for the filter form, from the cache only.

    On a cold cache this asks a worker to load the list (at most once a minute) and answers []
    at once: a page render never waits on Genesys.
    """
    queues = queue_list_cached()
    if queues is not None:
        return queues
    try:
        if cache.throttle_hit(name="queues-refresh", limit=1, window_seconds=60):
            refresh_queues_task.apply_async(retry=False)
    except Exception as exc:  # a dead broker must not break the page; the form falls back
        logger.warning("queue list refresh not enqueued: %s", exc)
    return []
