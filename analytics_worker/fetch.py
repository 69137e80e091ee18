"""Fetching one report: its source's pages folded into buckets, and the fetch task's body.

Below the tasks: nothing here enqueues. The Celery task, the web's inline fetch (Redis down) and
the fetch_report command all call report_fetch; the task calls report_job_run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from celery import current_task
from django.conf import settings
from django.utils import timezone

from analytics_worker import cache
from analytics_worker.genesys.errors import GenesysError
from analytics_worker.genesys.http import FetchProgress
from analytics_worker.models import SavedReport
from analytics_worker.normalize import BucketAccumulator
from analytics_worker.redis_client import metric_incr
from analytics_worker.reports import ReportSpec
from analytics_worker.sources import (
    LISTING_CAP,
    listing_pages,
    service_level_goal,
    source_pages,
)

logger = logging.getLogger(__name__)


class FetchDeadlineExceeded(Exception):
    """An inline fetch ran out of its time budget."""


LISTING_TTL_SECONDS = 600
# The failures of report_fetch whose message is fit to show a person; anything else is a bug.
FETCH_FAILURES: tuple[type[Exception], ...] = (FetchDeadlineExceeded, GenesysError)


def report_fetch(
    *,
    spec: ReportSpec,
    progress: FetchProgress | None = None,
    on_page: Callable[[int, int], None] | None = None,
    deadline: float | None = None,
) -> dict[str, Any]:
    """Fetch a report from its source and aggregate it page by page into buckets.

    Memory stays O(buckets): each page is folded into the accumulator and dropped.
    `deadline` is a time.monotonic() value; past it the fetch stops with FetchDeadlineExceeded.
    """
    progress = progress or FetchProgress()
    if deadline is not None:
        progress.deadline = deadline
    started = time.monotonic()
    pages = items = 0

    def page_done() -> None:
        nonlocal pages
        pages += 1
        if on_page is not None:
            on_page(pages, items)
        if deadline is not None and time.monotonic() > deadline:
            raise FetchDeadlineExceeded(f"gave up after {pages} pages")

    found: dict[str, Any]
    if spec.listing:
        conversations: list[dict[str, Any]] = []
        for rows in listing_pages(spec=spec, progress=progress):
            conversations += rows
            items = len(conversations)
            page_done()
            if items > LISTING_CAP:
                break
        found = {
            "conversations": conversations[:LISTING_CAP],
            # More started in the interval than the listing keeps: the page says so.
            "more": len(conversations) > LISTING_CAP,
        }
        skipped = 0
    else:
        accumulator = BucketAccumulator(spec)
        for _ in source_pages(spec=spec, accumulator=accumulator, progress=progress):
            items = accumulator.items
            page_done()
        found = {
            "buckets": accumulator.result(),
            "totals": accumulator.totals(),
            # A breakdown's groups (ids; names are looked up when shown), and the totals per
            # media type; both empty where the source gives none.
            "groups": accumulator.group_results() if spec.group else [],
            "media": accumulator.media_results(),
            "service_level_goal": service_level_goal(spec) if spec.source != "graphql" else None,
        }
        items, skipped = accumulator.items, accumulator.skipped
    return {
        "key": spec.key,
        "spec": spec.to_dict(),
        "source": spec.source,
        "as_of": datetime.now(UTC).isoformat(timespec="seconds"),
        **found,
        "fetch": {
            "pages": pages,
            "items": items,
            "skipped": skipped,
            "requests": progress.requests,
            "retries": progress.retries,
            "rate_limited": progress.rate_limited,
            "seconds": round(time.monotonic() - started, 3),
        },
    }


def report_job_run(*, spec_data: dict[str, Any], job_id: str) -> str:
    """The fetch task's body: run the fetch, record progress, store the result, free the lock.

    Idempotent: a redelivered task whose job already finished does nothing, and a rerun of an
    unfinished one writes the same result. A failure never touches the cached result.
    """
    spec = ReportSpec.from_dict(spec_data)
    job = cache.job_get(job_id=job_id)
    if job is not None and job.get("state") in cache.TERMINAL_STATES:
        return job["state"]
    # The worker's name (its heartbeat's) tells the reaper a dead worker from a slow one.
    worker = (current_task.request.hostname or "") if current_task else ""
    cache.job_update(job_id=job_id, state="fetching", pages=0, items=0, message="", worker=worker)

    def on_page(pages: int, items: int) -> None:
        cache.job_update(job_id=job_id, state="fetching", pages=pages, items=items, message="")

    def on_wait(seconds: float, reason: str) -> None:
        cache.job_update(
            job_id=job_id, state="waiting", message=reason, wait_until=time.time() + seconds
        )

    # Beat's prefetch (services.FetchKind) lets the fetches people wait for have the shared
    # Genesys budget first, as the queues let them have the workers first.
    background = job is not None and job.get("kind") == "prefetch"
    progress = FetchProgress(on_wait=on_wait, background=background)
    try:
        payload = report_fetch(spec=spec, progress=progress, on_page=on_page)
    except Exception as exc:
        message = _failure_message(exc)
        logger.warning("fetch failed report=%s job=%s: %s", spec.key, job_id, message)
        now = time.time()
        cache.report_error_put(report_key=spec.key, message=message, at=now)
        cache.job_update(job_id=job_id, state="failed", message=message)
        cache.lock_release(report_key=spec.key, job_id=job_id)
        metric_incr("gad_fetches_total", outcome="failed")
        _saved_reports_record(report_key=spec.key, error=message)
        if not isinstance(exc, GenesysError):
            raise
        return "failed"

    as_of = time.time()
    fresh_seconds, ttl_seconds = _cache_lifetime(spec)
    cache.result_put(
        report_key=spec.key,
        payload=orjson.dumps(payload),
        as_of=as_of,
        fresh_seconds=fresh_seconds,
        ttl_seconds=ttl_seconds,
        # A drill-down is one bucket's, not a view the page moves on from.
        series_key="" if spec.listing else spec.series_key,
    )
    # What the next fetch of this report is charged and queued by (services.report_fetch_cost).
    cache.fetch_cost_put(report_key=spec.key, requests=payload["fetch"]["requests"])
    cache.job_update(
        job_id=job_id,
        state="done",
        pages=payload["fetch"]["pages"],
        items=payload["fetch"]["items"],
        requests=payload["fetch"]["requests"],
        message="",
    )
    cache.lock_release(report_key=spec.key, job_id=job_id)
    metric_incr("gad_fetches_total", outcome="done")
    metric_incr("gad_fetch_seconds_total", payload["fetch"]["seconds"])
    logger.info(
        "fetch done report=%s job=%s pages=%s items=%s requests=%s",
        spec.key,
        job_id,
        payload["fetch"]["pages"],
        payload["fetch"]["items"],
        payload["fetch"]["requests"],
    )
    _saved_reports_record(report_key=spec.key, error=None)
    return "done"


def _cache_lifetime(spec: ReportSpec) -> tuple[int, int]:
    """(fresh for, kept for) in seconds, by how much the report's data may still change."""
    tier = spec.freshness(now=datetime.now(UTC))
    if tier == "live":
        lifetime = settings.REPORT_LIVE_FRESH_SECONDS, settings.REPORT_LIVE_TTL_SECONDS
    elif tier == "settling":
        lifetime = settings.REPORT_SETTLING_FRESH_SECONDS, settings.REPORT_SETTLING_TTL_SECONDS
    else:
        lifetime = settings.REPORT_HISTORICAL_FRESH_SECONDS, settings.REPORT_HISTORICAL_TTL_SECONDS
    if spec.listing:
        # A drill-down is read for minutes, then left: kept briefly, however settled.
        return min(lifetime[0], LISTING_TTL_SECONDS), LISTING_TTL_SECONDS
    return lifetime


def _failure_message(exc: Exception) -> str:
    if isinstance(exc, GenesysError):
        return str(exc)
    # Anything else is our bug: the details go to the log, not to the page.
    return "The fetch failed with an internal error; it has been logged for the administrator."


def _saved_reports_record(*, report_key: str, error: str | None) -> None:
    now = timezone.now()
    reports = SavedReport.objects.filter(last_report_key=report_key)
    if error is None:
        reports.update(last_success_at=now, consecutive_failures=0)
        return
    for report in reports:
        report.failure_record(message=error, now=now)
