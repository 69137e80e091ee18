"""Reading reports and starting their fetches: the cache lookup, single flight, saved-report
scheduling and the queue list for the filter form.

Above the tasks: this is the only code that enqueues them. The tasks call the fetch code below
(analytics_worker.fetch), which never imports this module.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, cast

import orjson
from django.conf import settings
from django.utils import timezone

from analytics_worker import cache, fetch, heartbeats
from analytics_worker.genesys.http import FetchProgress
from analytics_worker.genesys.queues import queue_list_cached
from analytics_worker.genesys.users import user_names_cached
from analytics_worker.models import MAX_BACKOFF, SavedReport
from analytics_worker.redis_client import metric_incr
from analytics_worker.reports import ReportSpec, ReportSpecError, report_spec_build
from analytics_worker.sources import fetch_cost_estimate
from analytics_worker.tasks import fetch_report_task, refresh_queues_task, refresh_users_task

logger = logging.getLogger(__name__)

LookupStatus = Literal["fresh", "stale", "pending"]


class WorkerUnavailable(Exception):
    """The job could not be handed to Celery; the message is safe to show."""


class FetchLimitReached(Exception):
    """The user's fetch budget does not allow this fetch now; the message is safe to show and
    says when it will (`retry_after`, seconds)."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class InlineFetchRefused(Exception):
    """Redis is down and this report may not be fetched directly now; the message says why and
    what to do."""


class _RefreshBackingOff(Exception):
    """The report's last fetch failed a moment ago: no new one yet."""


FetchKind = Literal["interactive", "prefetch"]  # a person waits for it, or beat keeps it warm

# Where a fetch waits for a worker. kombu's Redis transport takes a worker's next task with one
# BRPOP over every (priority, queue) list, priority first: the lowest number goes first from
# whichever queue the worker reads it, and equal priorities go in the order the worker names its
# queues (queue_order_strategy "priority", config/settings.py). A worker takes nothing more
# while its slots are busy (prefetch multiplier 1, acks_late), so what waits is ordered in
# Redis, never held by a worker.
INTERACTIVE_QUEUE = "interactive"  # small fetches a person waits for (a worker of its own)
PRIORITY_SMALL = 0
PRIORITY_LONG = 3  # a person waits for it too, so it goes ahead of beat's prefetch
PRIORITY_PREFETCH = 6


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
    budget: cache.FetchBudget | None = None,
    read_cap: cache.Throttle | None = None,
    kind: FetchKind = "interactive",
    looked_up: tuple[cache.LookupOutcome, cache.CachedReport | None] | None = None,
) -> ReportLookup:
    """Fresh: serve. Stale: serve and make sure one refresh runs. Miss: join or start the job.

    `force` (an admin's refresh) fetches even a fresh report, but still joins a running job.
    `budget` is charged the fetch's cost (report_fetch_cost) only when a new fetch would start
    (joining one is free); when it is spent, a stale report is served without a refresh, and a
    miss or a forced refresh raises FetchLimitReached. A stale report whose last refresh failed
    is served without a new one until its backoff ends (failure_backoff_seconds); a miss or a
    forced refresh tries at once.
    `read_cap` counts the read against the reader's cap in the same Redis round trip as the
    read itself; past it, cache.ReadLimitReached. `kind` "prefetch" (beat) queues a new fetch
    behind everything a person waits for (fetch_route). `looked_up`: the cache.result_lookup
    of this read, already made (in the round trip that loaded the reader's session).
    Raises cache.CacheUnavailable when Redis is down, WorkerUnavailable when Celery is.
    """
    outcome, cached = looked_up or cache.result_lookup(
        report_key=spec.key, now=time.time(), force=force, read_cap=read_cap
    )
    if outcome == "fresh":
        return ReportLookup(status="fresh", spec=spec, cached=cached, job_id=None)
    job_id: str | None
    # A stale report backs off after a failed refresh, within its own freshness (a miss or a
    # forced refresh does not: they have nothing to show, or were asked for).
    backoff = cached.fresh_until - cached.as_of if cached is not None and not force else None
    try:
        job_id = report_job_ensure(spec=spec, kind=kind, budget=budget, backoff=backoff)
    except FetchLimitReached:
        if cached is None or force:
            raise
        job_id = None
    except _RefreshBackingOff:
        job_id = None
    status: LookupStatus = "stale" if cached is not None else "pending"
    return ReportLookup(status=status, spec=spec, cached=cached, job_id=job_id)


def report_job_ensure(
    *,
    spec: ReportSpec,
    kind: FetchKind = "interactive",
    budget: cache.FetchBudget | None = None,
    backoff: float | None = None,
) -> str:
    """Single-flight: return the id of the one job fetching this report, starting it if needed:
    if `budget` allows (else FetchLimitReached) and, with `backoff` (the stale result's
    freshness, seconds), if the report's last fetch did not fail a moment ago
    (failure_backoff_seconds; else _RefreshBackingOff)."""
    # Read before the lock is won, so the job's record holds it from the start (one read for a
    # requester who then joins a running job instead).
    cost = report_fetch_cost(spec=spec)
    # Two rounds at most: the second runs after reaping a lock whose job had already ended.
    for _ in range(2):
        job_id = str(uuid.uuid4())
        # The job's record goes in before its lock: whoever finds the lock finds the job too.
        # The other way round, a requester arriving in between took the starting job for an
        # orphan, reaped its lock and started a second fetch (bench 5 saw 6 of 50).
        cache.job_create(
            job_id=job_id, report_key=spec.key, spec=spec.to_dict(), kind=kind, cost=cost
        )
        if cache.lock_acquire(
            report_key=spec.key, job_id=job_id, ttl_seconds=settings.CELERY_TASK_TIME_LIMIT + 60
        ):
            try:
                _fetch_start_allow(spec=spec, cost=cost, budget=budget, backoff=backoff)
            except BaseException:  # refused, or Redis failed: this job never starts
                cache.lock_release(report_key=spec.key, job_id=job_id)
                cache.job_delete(job_id=job_id)
                raise
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


def report_fetch_cost(*, spec: ReportSpec) -> int:
    """The requests to Genesys a fetch of `spec` is charged and routed by: what its last
    finished fetch took, else the estimate from its source and range."""
    known = cache.fetch_cost_get(report_key=spec.key)
    return known if known is not None else fetch_cost_estimate(spec=spec)


def fetch_route(*, kind: FetchKind, cost: int | None) -> tuple[str, int]:
    """The queue and priority of a fetch (see PRIORITY_SMALL): small ones a person waits for
    first, on a queue of their own; long ones next; beat's prefetch last, whatever its size."""
    if kind == "prefetch":
        return settings.CELERY_TASK_DEFAULT_QUEUE, PRIORITY_PREFETCH
    if cost is not None and cost <= settings.FETCH_INTERACTIVE_MAX_REQUESTS:
        return INTERACTIVE_QUEUE, PRIORITY_SMALL
    return settings.CELERY_TASK_DEFAULT_QUEUE, PRIORITY_LONG


def failure_backoff_seconds(*, failures: int, fresh_seconds: float | None = None) -> float:
    """How long after its last failed fetch a stale report is served without a new one:
    REPORT_RETRY_AFTER_FAILURE_SECONDS, or the report's own `fresh_seconds` if shorter (a report
    meant to be seconds old is tried again after seconds), doubled for each failure in a row, at
    most an hour (as saved reports back off)."""
    base = float(settings.REPORT_RETRY_AFTER_FAILURE_SECONDS)
    if fresh_seconds is not None and fresh_seconds > 0:  # <= 0: marked stale by a refresh
        base = min(base, fresh_seconds)
    delay = base * 2 ** min(max(failures, 1) - 1, 20)
    return min(delay, MAX_BACKOFF.total_seconds())


def _fetch_start_allow(
    *, spec: ReportSpec, cost: int, budget: cache.FetchBudget | None, backoff: float | None
) -> None:
    """Whether a new fetch of `spec` may start now: raises if not (see report_job_ensure)."""
    now = time.time()
    if backoff is not None:
        error = cache.report_error_get(report_key=spec.key)
        if error is not None and now < float(error.get("at", 0)) + failure_backoff_seconds(
            failures=int(error.get("failures", 1)), fresh_seconds=backoff
        ):
            raise _RefreshBackingOff()
    if budget is not None:
        refusal = cache.fetch_budget_charge(budget=budget, cost=cost, now=now)
        if refusal is not None:
            raise FetchLimitReached(
                _budget_refusal_message(refusal, spec=spec, cost=cost, budget=budget),
                retry_after=math.ceil(refusal.retry_after),
            )


def _budget_refusal_message(
    refusal: cache.BudgetRefusal, *, spec: ReportSpec, cost: int, budget: cache.FetchBudget
) -> str:
    wait = _duration_text(refusal.retry_after)
    if refusal.reason == "fetches":
        return (
            f"You started {budget.fetches_per_minute} new reports in the last minute; this one "
            f"can start in {wait}. Wait, then reload."
        )
    cheaper = ""
    if cost > 1:
        cheaper = ", or choose a shorter range"
        cheaper += " or the aggregates source" if spec.source != "aggregates" else ""
    return (
        "The reports you started recently have used your share of requests to Genesys: this "
        f"one needs about {_requests_text(cost)} and can start in {wait}. Wait, then "
        f"reload{cheaper}."
    )


def _requests_text(count: int) -> str:
    return f"{count:,} request{'s' if count != 1 else ''}"


def _duration_text(seconds: float) -> str:
    """A wait as a person reads it: "45 s", "3 min"."""
    whole = max(1, math.ceil(seconds))
    return f"{whole} s" if whole < 90 else f"{math.ceil(whole / 60)} min"


def _enqueue(*, spec: ReportSpec, job_id: str) -> None:
    """Hand the job to Celery, on the queue and at the priority its record names (report_job_ensure
    wrote them; a job started again after its worker died keeps them)."""
    job = cache.job_get(job_id=job_id) or {}
    queue, priority = fetch_route(
        kind=cast(FetchKind, job.get("kind") or "interactive"),
        cost=int(job["cost"]) if job.get("cost") else None,
    )
    try:
        fetch_report_task.apply_async(
            kwargs={"spec": spec.to_dict(), "job_id": job_id},
            task_id=job_id,
            queue=queue,
            priority=priority,
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
        )
    except Exception as exc:  # kombu raises several types for a broker that is down
        logger.error("enqueue failed report=%s job=%s: %s", spec.key, job_id, exc)
        message = "The task queue is unavailable, so the report cannot be fetched right now."
        cache.job_update(job_id=job_id, state="failed", message=message)
        cache.lock_release(report_key=spec.key, job_id=job_id)
        raise WorkerUnavailable(message) from exc


# --- Redis down: fetching in the request ----------------------------------------------------------


class _RecentRequests:
    """Requests sent to Genesys by direct fetches in the last minute, by name, in this process
    only: with Redis down there is nowhere shared to count them."""

    WINDOW_SECONDS = 60.0

    def __init__(self) -> None:
        # gthread workers serve requests in threads; reentrant, since charge() calls add().
        self._lock = threading.RLock()
        self._sent: dict[str, deque[tuple[float, int]]] = {}

    def charge(self, limits: Mapping[str, int], *, cost: int, now: float) -> tuple[str, float]:
        """Charge `cost` to each name of `limits` if each stays within its limit in the window
        (or had nothing charged in it: one fetch larger than a limit may still run). Else
        charge nothing: the name that refused, and the seconds until the fetch would fit."""
        with self._lock:
            for name, limit in limits.items():
                sent = self._sent.setdefault(name, deque())
                while sent and sent[0][0] <= now - self.WINDOW_SECONDS:
                    sent.popleft()
                owed = sum(amount for _, amount in sent) + cost - limit
                if not sent or owed <= 0:
                    continue
                # Wait until enough of the oldest charges leave the window (all of them, if the
                # fetch is larger than the limit on its own).
                freed = 0
                for at, amount in sent:
                    freed += amount
                    if freed >= owed:
                        return name, at + self.WINDOW_SECONDS - now
                return name, sent[-1][0] + self.WINDOW_SECONDS - now
            self.add(limits, amount=cost, now=now)
            return "", 0.0

    def add(self, names: Mapping[str, int], *, amount: int, now: float) -> None:
        with self._lock:
            for name in names:
                self._sent.setdefault(name, deque()).append((now, amount))


_inline_requests = _RecentRequests()


def report_fetch_inline(*, spec: ReportSpec, user: str, deadline: float) -> dict[str, Any]:
    """Redis down: fetch `spec` in this request (fetch.report_fetch, stopping at `deadline`, a
    time.monotonic() value), if it is small: a range of at most DASHBOARD_INLINE_FETCH_MAX_DAYS,
    and its estimated requests within what this process and this user may still send directly
    this minute. Raises InlineFetchRefused, or what report_fetch raises."""
    max_days = settings.DASHBOARD_INLINE_FETCH_MAX_DAYS
    # An hour and a bucket of slack: a day has 25 hours when the clocks go back, and snapping
    # to bucket edges may add one.
    if spec.end - spec.start > timedelta(days=max_days, hours=1, minutes=spec.bucket_minutes):
        days = f"{max_days} day{'s' if max_days != 1 else ''}"
        raise InlineFetchRefused(
            f"While the report cache is down, only reports of up to {days} are fetched "
            "directly: choose a shorter range (Today, Yesterday or Last 24 hours), or wait "
            "until Redis is back"
        )
    cost = fetch_cost_estimate(spec=spec)  # not the last fetch's: that is in Redis
    process_limit = settings.DASHBOARD_INLINE_REQUESTS_PER_MINUTE
    user_limit = settings.DASHBOARD_INLINE_REQUESTS_PER_USER_PER_MINUTE
    limits = {"process": process_limit, f"user:{user}": user_limit}
    refused_by, wait = _inline_requests.charge(limits, cost=cost, now=time.monotonic())
    if refused_by:
        who = (
            f"this server sends at most {process_limit} requests a minute to Genesys that way"
            if refused_by == "process"
            else f"each person may send {user_limit} requests a minute to Genesys that way"
        )
        raise InlineFetchRefused(
            f"While the report cache is down, reports are fetched directly, and {who}: this "
            f"one (about {_requests_text(cost)}) can start in {_duration_text(wait)}. Wait, then "
            "reload"
        )
    progress = FetchProgress()
    try:
        return fetch.report_fetch(spec=spec, progress=progress, deadline=deadline)
    finally:
        # Charged the estimate up front (so parallel requests cannot all pass), and what the
        # fetch really sent beyond it afterwards.
        if progress.requests > cost:
            _inline_requests.add(limits, amount=progress.requests - cost, now=time.monotonic())


def _lock_is_orphaned(job_id: str) -> bool:
    job = cache.job_get(job_id=job_id)
    return job is None or job.get("state") in cache.TERMINAL_STATES


# One restart: a fetch whose worker died twice more likely killed it (its memory) than was
# unlucky, and a third attempt would only take the next worker down too.
JOB_MAX_ATTEMPTS = 2


def locks_reap() -> int:
    """Beat's sweep of the single-flight locks: how many it freed or passed on.

    A lock whose job ended or vanished is deleted (Redash's "ghost locks" after a crash). A job
    that stalled (job_stalled_seconds) on a worker with no heartbeat was lost with that worker:
    it is started again once, then failed with a message. Celery redelivers such a task too, but
    only after the broker's visibility timeout (11 minutes), while the page said "Fetching".
    """
    now = time.time()
    live_workers: set[str] | None = None  # read once, and only if some job has stalled
    reaped = 0
    for report_key in cache.lock_report_keys():
        holder = cache.lock_holder(report_key=report_key)
        if holder is None:
            continue
        if _lock_is_orphaned(holder):
            cache.lock_release(report_key=report_key, job_id=holder)
            reaped += 1
            continue
        job = cache.job_get(job_id=holder)
        if job is None or job_stalled_seconds(job=job, now=now) is None:
            continue
        if live_workers is None:
            live_workers = set(heartbeats.worker_heartbeats())
        if job.get("worker") in live_workers:
            continue  # slow, not dead: its worker still beats
        reaped += _job_lost(job_id=holder, job=job, report_key=report_key, now=now)
    return reaped


def job_stalled_seconds(*, job: Mapping[str, str], now: float) -> float | None:
    """How long a running job has shown no progress, once that passes JOB_STALL_SECONDS; None
    while it has not stalled (or is not running). A wait the job announced (a 429's Retry-After)
    counts as progress until it ends."""
    if job.get("state") not in cache.RUNNING_STATES:
        return None
    silent = now - max(cache.job_seconds(job, "updated_at"), cache.job_seconds(job, "wait_until"))
    return silent if silent > settings.JOB_STALL_SECONDS else None


def _job_lost(*, job_id: str, job: dict[str, str], report_key: str, now: float) -> int:
    """Start again a job lost with its worker, or fail it if it was started again already.

    Same id, spec and lock: the page keeps polling the job it has. 0 if the job moved on while
    we looked (its worker was only slow), else 1.
    """
    worker = job.get("worker") or "unknown"
    attempt = int(job.get("attempt") or 1)  # written by this module only
    read_at = job.get("updated_at", "")
    if attempt >= JOB_MAX_ATTEMPTS:
        message = (
            f"The worker running this fetch ({worker}) stopped in the middle of it, and so did "
            "the one before it: not trying again. A worker that dies mid-fetch was usually "
            "killed (out of memory, or a restart): check the Celery worker's log and memory "
            "limit, then reload the page to fetch the report again."
        )
        if not cache.job_update_if_unchanged(
            job_id=job_id, seen_updated_at=read_at, state="failed", message=message, updated_at=now
        ):
            return 0
        logger.warning("fetch lost twice report=%s job=%s worker=%s", report_key, job_id, worker)
        cache.report_error_put(report_key=report_key, message=message, at=now)
        cache.lock_release(report_key=report_key, job_id=job_id)
        metric_incr("gad_fetches_total", outcome="failed")
        for report in SavedReport.objects.filter(last_report_key=report_key):
            report.failure_record(message=message, now=timezone.now())
        return 1
    if not cache.job_update_if_unchanged(
        job_id=job_id,
        seen_updated_at=read_at,
        state="queued",
        attempt=attempt + 1,
        worker="",
        pages=0,
        items=0,
        message=f"Its worker ({worker}) stopped in the middle of the fetch: started it again.",
        requeued_at=now,
        updated_at=now,
    ):
        return 0
    logger.warning(
        "fetch lost report=%s job=%s worker=%s: restarting it", report_key, job_id, worker
    )
    # The new attempt may run a whole time limit, as the first could (report_job_ensure's TTL).
    cache.lock_extend(
        report_key=report_key, job_id=job_id, ttl_seconds=settings.CELERY_TASK_TIME_LIMIT + 60
    )
    metric_incr("gad_fetches_restarted_total")
    try:
        _enqueue(spec=ReportSpec.from_dict(orjson.loads(job["spec"])), job_id=job_id)
    except WorkerUnavailable:
        pass  # _enqueue has failed the job with its message and freed the lock
    return 1


def saved_report_spec(report: SavedReport, *, now: datetime) -> ReportSpec:
    """The report a saved report names at `now`; ReportSpecError (naming the filter) for params
    of any shape that are not valid query-string filters."""
    return report_spec_build(
        params=_query_params(report.params),
        now=now,
        default_time_zone=settings.REPORT_DEFAULT_TIME_ZONE,
    )


def _query_params(params: object) -> dict[str, str | list[str]]:
    """Saved params as report_spec_build takes a query string: text, or lists of text.

    The admin's form stores that shape, but params is JSON and a row may hold anything: a number
    is read as its text (so {"granularity": 30} is refused like ?granularity=30, by name),
    anything else is refused here.
    """
    if not isinstance(params, dict):
        raise ReportSpecError(
            "params",
            'must be a JSON object of filters, like {"range": "today", "granularity": "PT1H"}',
        )
    query: dict[str, str | list[str]] = {}
    for name, value in params.items():
        items = value if isinstance(value, list) else [value]
        if not all(_is_query_value(item) for item in items):
            raise ReportSpecError(str(name), "must be text or a list of text")
        texts = [str(item) for item in items]
        query[str(name)] = texts if isinstance(value, list) else texts[0]
    return query


def _is_query_value(item: object) -> bool:
    # A bool is an int to Python, but true is no more a filter value than null is.
    return isinstance(item, str) or (isinstance(item, int | float) and not isinstance(item, bool))


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
            started += _saved_report_enqueue(report=report, now=now)
        except Exception as exc:  # one bad report (any error at all) must never stop the others
            report.failure_record(message=_saved_report_failure_message(report, exc), now=now)
    return started


def _saved_report_enqueue(*, report: SavedReport, now: datetime) -> int:
    """Start a fetch of one saved report unless its result is still fresh: 1 if started."""
    spec = saved_report_spec(report, now=now)
    SavedReport.objects.filter(pk=report.pk).update(last_report_key=spec.key, last_enqueued_at=now)
    cached = cache.result_get(report_key=spec.key)
    if cached is not None and cached.is_fresh(now=time.time()):
        return 0
    report_job_ensure(spec=spec, kind="prefetch")
    return 1


def _saved_report_failure_message(report: SavedReport, exc: Exception) -> str:
    """What the admin shows for a refresh that could not start: never an internal detail."""
    if isinstance(exc, ReportSpecError):
        return f"Invalid filters: {exc}. Fix them in the admin (Saved reports)."
    if isinstance(exc, cache.CacheUnavailable | WorkerUnavailable):
        return str(exc)  # written to be shown
    logger.exception("saved report %s (id %s): refresh not started", report.name, report.pk)
    return (
        f"The refresh could not be started (internal error {type(exc).__name__}); it has been "
        "logged for the administrator."
    )


def saved_report_refresh(*, report: SavedReport, now: datetime) -> str:
    """An admin's "refresh now" for a saved report: fetch even if fresh (joins a running job)."""
    spec = saved_report_spec(report, now=now)
    SavedReport.objects.filter(pk=report.pk).update(last_report_key=spec.key, last_enqueued_at=now)
    return report_lookup(spec=spec, force=True).job_id or ""


def saved_reports_refetch_settling(*, now: datetime) -> int:
    """The nightly re-fetch: every enabled saved report whose range touches the last 48 hours is
    fetched again even if fresh, since Genesys re-processes those days overnight (and posts
    e-mail metrics days later). Returns how many were started (or joined)."""
    started = 0
    for report in SavedReport.objects.filter(enabled=True):
        try:
            spec = saved_report_spec(report, now=now)
        except ReportSpecError:
            continue  # recorded by the minute tick, which meets the same filters
        if spec.freshness(now=now) == "settled":
            continue
        if report_lookup(spec=spec, force=True, kind="prefetch").job_id:
            started += 1
    return started


def queue_choices() -> list[tuple[str, str]]:
    """(id, name) of the org's queues for the filter form, from the cache only.

    On a cold cache this asks a worker to load the list (at most once a minute) and answers []
    at once: a page render never waits on Genesys. Never raises: with Redis or the broker down
    it answers [] too, and the form falls back to a free-text list of queue ids.
    """
    queues = queue_list_cached()
    if queues is not None:
        return queues
    _directory_load_ask("queues", refresh_queues_task)
    return []


def user_names() -> dict[str, str]:
    """User id -> name, from the cache only; like queue_choices, a cold cache asks a worker to
    load the users and answers {} at once (the page shows ids until the names arrive)."""
    names = user_names_cached()
    if names is not None:
        return names
    _directory_load_ask("users", refresh_users_task)
    return {}


def _directory_load_ask(name: str, task: Any) -> None:
    try:
        if cache.throttle_hit(name=f"{name}-refresh", limit=1, window_seconds=60):
            task.apply_async(retry=False)
    except Exception as exc:  # a dead broker must not break the page; the form falls back
        logger.warning("%s list refresh not enqueued: %s", name, exc)
