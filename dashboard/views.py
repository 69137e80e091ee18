"""The dashboard page, its redraws, its JSON API, exports, the staff refresh and the health
check.

The page, its redraws (report_panel) and /api/report read a report through one path,
_report_read (services.report_lookup): fresh and stale hits are served from Redis at once, a
miss answers at once with the job that is fetching it (never waits on Genesys). Only when Redis
itself is down does a request fetch inline, within a time budget. Each view only turns what the
read came to into its response.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import hmac
import io
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import wraps
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import redis
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.handlers.wsgi import get_bytes_from_wsgi
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import parse_etags
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_POST, require_safe

from analytics_worker import cache, fetch, heartbeats, payload_gzip, reports, services
from analytics_worker.models import SavedReport
from analytics_worker.redis_client import Read
from dashboard import breakdowns, drilldown, exports, health, kpis, sessions
from dashboard.forms import (
    COMPARE_LABELS,
    COMPARE_SHIFTS,
    FIELD_LABELS,
    GRANULARITY_LABELS,
    SAVED_REPORT_FILTERS,
    ReportFilterForm,
    report_spec_from_query,
)

logger = logging.getLogger(__name__)

# Query parameters that shape the page but not the report: left out of export, API and
# "refresh" links so they name the same report key as the page.
PAGE_ONLY_PARAMS = ("auto", "wall", "compare")
# A job still queued after this long means no worker took it: say so instead of spinning.
QUEUED_TOO_LONG_SECONDS = 20
_JOB_ID_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")
DEGRADED_MESSAGE = (
    "Degraded: the report cache is unavailable, this was fetched directly from the source."
)
# The parts of the page that report_panel renders again for a redraw without a reload.
KPI_TILES_TEMPLATE = "dashboard/report_panel_kpis.html"
BUCKET_TABLE_TEMPLATE = "dashboard/report_panel_table.html"
GROUP_TABLE_TEMPLATE = "dashboard/report_panel_groups.html"


# --- helpers --------------------------------------------------------------------------------------


def _spec_build(request: HttpRequest, *, drill: bool = False) -> reports.ReportSpec:
    # Once a request: report_read_first builds it before the view does.
    built: dict[bool, reports.ReportSpec] = request.__dict__.setdefault("_report_specs", {})
    if drill not in built:
        query = get_bytes_from_wsgi(request.META, "QUERY_STRING", "")  # as request.GET reads it
        # The queue list is read only to check the queues a request names: a cached hit
        # without one stays a single Redis round trip.
        names_queues = _query_names_queues(query)
        queues = _queues_interned(tuple(services.queue_choices())) if names_queues else ()
        minute = datetime.now(UTC).replace(second=0, microsecond=0)
        built[drill] = _spec_of_query(query, drill=drill, minute=minute, queues=queues)
    return built[drill]


_queues_last: tuple[tuple[str, str], ...] = ()


def _queues_interned(queues: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """The queue list as the last request had it, when unchanged: the specs kept below then
    share one copy of it, not one each (an org may have a thousand queues)."""
    global _queues_last
    if queues != _queues_last:
        _queues_last = queues
    return _queues_last


# Pollers ask for the same few query strings again and again: parsing and checking one was a
# tenth of a cached hit (docs/PERFORMANCE.md). A report resolves `now` to the minute (its
# buckets are minutes or longer), so the spec is a function of the query, the minute and the
# queue list, and is kept per process (errors are not kept: they raise again).
@functools.lru_cache(maxsize=512)
def _spec_of_query(
    query: bytes, *, drill: bool, minute: datetime, queues: tuple[tuple[str, str], ...]
) -> reports.ReportSpec:
    return report_spec_from_query(QueryDict(query), now=minute, queues=queues, drill=drill)


@functools.lru_cache(maxsize=512)
def _query_names_queues(query: bytes) -> bool:
    return bool(QueryDict(query).get("queue"))


@receiver(setting_changed)
def _spec_cache_clear(**_: Any) -> None:
    """Specs depend on settings (the default zone and source, the longest range): tests that
    change one must not read a spec built under another."""
    _spec_of_query.cache_clear()


def _filter_query(request: HttpRequest) -> str:
    """The request's report filters as a query string, without page-only or empty values."""
    query = request.GET.copy()
    for name in PAGE_ONLY_PARAMS:
        query.pop(name, None)
    for name in list(query):
        values = [value for value in query.getlist(name) if value.strip()]
        if values:
            query.setlist(name, values)
        else:
            del query[name]
    return query.urlencode(safe="/")


def _without(request: HttpRequest, name: str) -> str:
    query = request.GET.copy()
    query.pop(name, None)
    return query.urlencode(safe="/")


def _with_query(url: str, query: str) -> str:
    return f"{url}?{query}" if query else url


def _read_cap(request: HttpRequest, *, user_id: int | None = None) -> cache.Throttle:
    """Per-user cap on report reads (page loads, /api/report and /report/panel), counted by
    report_lookup (`user_id`: the request's user, before it is loaded)."""
    return cache.Throttle(
        name=f"dashboard:reads:{request.user.pk if user_id is None else user_id}",
        limit=settings.DASHBOARD_REPORT_READS_PER_MINUTE,
        window_seconds=60,
    )


def _fetch_budget(request: HttpRequest) -> cache.FetchBudget:
    """The user's budget for new fetches (page reads and staff refreshes alike), charged each
    fetch's cost by report_lookup (joining a running fetch is free)."""
    return cache.FetchBudget(
        name=f"dashboard:fetches:{request.user.pk}",
        requests=settings.DASHBOARD_FETCH_BUDGET_REQUESTS,
        requests_per_minute=settings.DASHBOARD_FETCH_BUDGET_REQUESTS_PER_MINUTE,
        fetches_per_minute=settings.DASHBOARD_FETCHES_PER_MINUTE,
    )


def _base_context(request: HttpRequest, form: ReportFilterForm) -> dict[str, Any]:
    filter_query = _filter_query(request)
    source = form["source"].value() or settings.ANALYTICS_SOURCE
    return {
        "form": form,
        # The View filter only where the source has views (the GraphQL contract), or where the
        # request gave one, to be fixed.
        "view_offered": source in reports.VIEW_SOURCES
        or form["view"].value() != reports.DEFAULT_VIEW
        or bool(form.errors.get("view")),
        "state": "error",
        "exit_wall_url": _with_query(reverse("dashboard-index"), _without(request, "wall")),
        # The page's redraws keep its comparison (a page option, not part of the report).
        "panel_url": _with_query(
            reverse("dashboard-report-panel"),
            "&".join(q for q in (filter_query, _compare_query(form["compare"].value())) if q),
        ),
        "csv_url": _with_query(reverse("dashboard-export-csv"), filter_query),
        "json_url": _with_query(reverse("dashboard-export-json"), filter_query),
        "xlsx_url": _with_query(reverse("dashboard-export-xlsx"), filter_query),
        "drill_url": _drill_url(filter_query),
        "refresh_url": _with_query(reverse("dashboard-refresh"), request.GET.urlencode(safe="/")),
        "saved_views": _saved_views(),
        "saved_view_query": filter_query,
        "saved_view_refresh_minutes": SAVED_VIEW_REFRESH_MINUTES,
    }


def _compare_query(compare: str) -> str:
    return f"compare={compare}" if compare else ""


@dataclass(frozen=True)
class Comparison:
    """The previous period of a report, as the tiles and charts compare against it."""

    label: str  # "the day before"
    report: dict[str, Any] | None  # None while it loads
    message: str = ""  # why there is nothing to compare with, when there is not


def _comparison(request: HttpRequest, spec: reports.ReportSpec, compare: str) -> Comparison | None:
    """The same report a day or a week earlier (local wall clock, so a DST change keeps its
    hours), read like any report: cached, or its fetch started and shown at a later redraw."""
    if not compare:
        return None
    label = COMPARE_LABELS[compare]
    try:
        read = _report_read(request, spec.earlier(COMPARE_SHIFTS[compare]))
    except ReportRefused as refused:
        return Comparison(label, None, message=refused.message)
    if read.status == "pending":
        return Comparison(label, None, message=f"{label.capitalize()} is loading.")
    return Comparison(label, read.report())


def _drill_url(filter_query: str) -> str:
    """The drill-down of the report's filters, for a bucket's or a group's link to add `at=` or
    `member=` to (always with a '?', so either can follow)."""
    return f"{reverse('dashboard-conversations')}?{filter_query}"


def _page_config(context: dict[str, Any], request: HttpRequest) -> dict[str, Any]:
    """Settings for dashboard.js, passed with json_script."""
    spec: reports.ReportSpec | None = context.get("spec")
    form: ReportFilterForm = context["form"]
    job = context.get("job")
    return {
        "state": context["state"],
        "panelUrl": context["panel_url"],
        "jobUrl": reverse("dashboard-api-job", args=[job["id"]]) if job else None,
        "jobId": job["id"] if job else None,
        "asOfEpoch": context.get("as_of_epoch"),
        "asOfLabel": context.get("as_of_label"),
        "timeZone": spec.time_zone if spec else form["tz"].value(),
        "hasTzParam": bool(request.GET.get("tz")),
        "auto": form["auto"].value(),
        "wall": form["wall"].value(),
        "drillUrl": context["drill_url"],
        "comparePending": bool(context.get("comparison") and context["comparison"].report is None),
    }


def _render_index(
    request: HttpRequest, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    context["page_config"] = _page_config(context, request)
    return render(request, "dashboard/index.html", context, status=status)


def _report_context(
    report: dict[str, Any],
    *,
    as_of: float,
    drill_url: str,
    comparison: Comparison | None = None,
) -> dict[str, Any]:
    """What the page shows of a report: the page itself and report_panel alike."""
    spec = report.get("spec") or {}
    zone = ZoneInfo(str(spec.get("time_zone") or "UTC"))
    as_of_local = datetime.fromtimestamp(as_of, tz=zone)
    names = _group_names(report)
    previous = comparison.report if comparison else None
    label = comparison.label if comparison else ""
    charts = kpis.report_charts(report, previous=previous, previous_label=label)
    charts["groups"] = breakdowns.breakdown_charts(report, names=names)
    return {
        "report": report,
        "as_of_epoch": as_of,
        "as_of_label": f"{as_of_local:%H:%M}",
        "as_of_iso": as_of_local.isoformat(timespec="seconds"),
        "age_label": _age_label(time.time() - as_of),
        "kpi_tiles": kpis.kpi_tiles(report, previous=previous, previous_label=label),
        "comparison": comparison,
        "media_rows": breakdowns.media_rows(report),
        "columns": kpis.table_columns(report),
        "rows": kpis.table_rows(report),
        "breakdown": breakdowns.breakdown_table(report, names=names),
        "has_cc_metrics": kpis.report_has_contact_centre_metrics(report),
        "no_matches": kpis.report_is_empty(report),
        "charts": charts,
        "drill_url": drill_url,
    }


def _group_names(report: dict[str, Any]) -> dict[str, str]:
    """Names of the breakdown's groups where they are ids (queues, agents), from the caches."""
    group = breakdowns.report_group(report)
    if group == "queue":
        return dict(services.queue_choices())
    if group == "agent":
        return services.user_names()
    return {}


def _age_label(seconds: float) -> str:
    # dashboard.js ageLabel() writes the same words as the page sits open: keep them in step.
    minutes = int(max(seconds, 0) // 60)
    if minutes < 1:
        return "just now"
    if minutes < 120:
        return f"{minutes} min ago"
    return f"{minutes // 60} h ago"


def _number(value: str | None) -> int | float | None:
    if value is None or value == "":
        return None
    number = float(value)
    return int(number) if number.is_integer() else number


def job_status(job_id: str, job: dict[str, str], *, now: float) -> dict[str, Any]:
    """A job's status as the page and /api/jobs show it: numbers as numbers, plus one line of
    progress text written here only, so the page and the poller say the same thing."""
    state = job.get("state", "queued")
    created_at = _number(job.get("created_at")) or now
    wait_until = _number(job.get("wait_until"))
    pages = int(_number(job.get("pages")) or 0)
    items = int(_number(job.get("items")) or 0)
    message = job.get("message", "")
    # Past 1, the reaper started the job again after its worker died (services.locks_reap).
    attempt = int(_number(job.get("attempt")) or 1)
    queued_at = _number(job.get("requeued_at")) or created_at
    stuck = state == "queued" and now - queued_at > QUEUED_TOO_LONG_SECONDS
    stalled_for = services.job_stalled_seconds(job=job, now=now)
    so_far = f"{pages:,} page{'s' if pages != 1 else ''}, {items:,} conversations so far"
    if state == "queued":
        if stuck and _workers_alive():
            # Queued behind other fetches (a long one, beat's prefetch): say so, not that the
            # worker is down.
            progress = (
                f"Queued for {int(now - queued_at)} s behind other fetches: the workers are busy "
                "and will start it next."
            )
        elif stuck:
            progress = (
                f"Queued for {int(now - queued_at)} s and no worker has picked it up: "
                "the Celery worker may be down. Check that it is running."
            )
        elif attempt > 1:
            progress = (
                "Restarted: the worker running this fetch stopped, so it was queued again; "
                "waiting for another worker…"
            )
        else:
            progress = "Queued: waiting for a worker to start the fetch…"
    elif stalled_for is not None:
        then = (
            "If its worker stopped, the fetch is started again within a minute or two."
            if attempt == 1
            else "It was restarted once already: if its worker stopped again, it fails within "
            "a minute or two."
        )
        progress = f"Stalled: no progress for {int(stalled_for)} s ({so_far}). {then}"
    elif state == "waiting":
        seconds = max(0, math.ceil((wait_until or now) - now))
        progress = f"Genesys asked us to wait {seconds} s; {so_far}."
    elif state == "fetching" and attempt > 1:
        progress = f"Fetching again (restarted after its worker stopped): {so_far}."
    elif state == "fetching":
        progress = f"Fetching: {so_far}."
    elif state == "done":
        progress = f"Done: {pages:,} pages, {items:,} conversations."
    else:
        progress = f"The fetch failed: {message or 'no reason was recorded'}"
    spec_text = job.get("spec")
    return {
        "id": job_id,
        "state": state,
        "report_key": job.get("report_key", ""),
        "spec": orjson.loads(spec_text) if spec_text else None,
        "created_at": created_at,
        "updated_at": _number(job.get("updated_at")),
        "pages": pages,
        "items": items,
        "requests": int(_number(job.get("requests")) or 0),
        "message": message,
        "wait_until": wait_until,
        "stuck": stuck,
        "stalled": stalled_for is not None,
        "attempt": attempt,
        "progress": progress,
        "now": now,
    }


def _workers_alive() -> bool:
    """Whether any worker's heartbeat is recent (read only for a job queued a while)."""
    try:
        return bool(heartbeats.worker_heartbeats())
    except redis.RedisError:
        return False


def _json_error(message: str, *, status: int, **extra: Any) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)


def api_get(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """@login_required and @require_safe for the JSON API, answering in JSON (401 and 405)
    instead of a redirect to the login page that a fetch() would follow blindly."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return _json_error("Log in to use the dashboard API.", status=401)
        if request.method not in ("GET", "HEAD"):
            response = _json_error("Only GET is allowed here.", status=405)
            response["Allow"] = "GET, HEAD"
            return response
        return view(request, *args, **kwargs)

    return wrapper


@dataclass(frozen=True)
class FirstRead:
    """The report's read, made in the round trip that loaded the session (_report_read_first),
    for the user the session was expected to hold."""

    report_key: str
    user_id: int
    conditional: bool  # result_check's answer (If-None-Match), else result_lookup's
    found: Any


def report_read_first(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Outside @api_get: before the login check loads the session, send the report's read
    with it, so that a cached hit (or a 304) makes one round trip to Redis, not two. The
    view's own read then takes it (_first_read) instead of reading again."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        _report_read_first(request)
        return view(request, *args, **kwargs)

    return wrapper


def _report_read_first(request: HttpRequest) -> None:
    user_id = sessions.session_user_id(request)
    if user_id is None or request.method not in ("GET", "HEAD"):
        return  # a session this process has not seen yet: its user's read cap is unknown
    try:
        spec = _spec_build(request)
    except reports.ReportSpecError:
        return  # the view answers for it
    # request.META, not request.headers: the first use of .headers copies every header into
    # a case-insensitive mapping, a thirtieth of a cached hit (docs/PERFORMANCE.md).
    conditional = bool(request.META.get("HTTP_IF_NONE_MATCH"))
    read_cap, now = _read_cap(request, user_id=user_id), time.time()
    read: Read[Any] = (
        cache.result_check_read(report_key=spec.key, now=now, read_cap=read_cap)
        if conditional
        else cache.result_lookup_read(report_key=spec.key, now=now, read_cap=read_cap)
    )
    try:
        found = sessions.session_load_with(request, read)
    except (redis.RedisError, cache.ReadLimitReached):
        return  # the view's own read meets it again, and answers for it
    request._report_first_read = FirstRead(  # type: ignore[attr-defined]
        report_key=spec.key, user_id=user_id, conditional=conditional, found=found
    )


def _first_read(request: HttpRequest, spec: reports.ReportSpec, *, conditional: bool) -> Any:
    """What _report_read_first read for this report and this request's user, once; None when
    it read nothing that fits (the caller reads)."""
    first: FirstRead | None = getattr(request, "_report_first_read", None)
    if first is None or first.conditional != conditional or first.report_key != spec.key:
        return None
    del request._report_first_read  # type: ignore[attr-defined]
    return first.found if request.user.pk == first.user_id else None


# --- reading a report: the one path of index, api_report and report_panel ------------------------


class ReportRefused(Exception):
    """A report read that ends in an error: its HTTP status, the sentence the JSON endpoints
    answer, and the page's headline and advice."""

    def __init__(self, *, status: int, message: str, advice: str, problem: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.problem = problem or message
        self.advice = advice


@dataclass(frozen=True)
class ReportRead:
    """A report read that went through: the report (fresh, stale or degraded), or the job
    that is fetching it (pending)."""

    spec: reports.ReportSpec
    status: str  # fresh, stale, pending or degraded
    job_id: str | None = None  # pending: the job fetching it; stale: the one refreshing it
    cached: cache.CachedReport | None = None  # fresh and stale: the payload as stored
    fetched: dict[str, Any] | None = None  # degraded: fetched in this request
    as_of: float = 0.0
    degraded_reason: str = ""
    job: dict[str, Any] | None = None  # with_job: the job's status (job_status)
    last_error: dict[str, str] | None = None  # with_job: the report's last failed fetch
    # with_previous, on a miss: the interval of the same filters' last result, shown meanwhile
    shown_spec: reports.ReportSpec | None = None

    def report(self) -> dict[str, Any]:
        """The report itself, parsed (api_report splices the cached bytes instead)."""
        if self.fetched is not None:
            return self.fetched
        assert self.cached is not None, "a pending read has no report"
        return orjson.loads(self.cached.payload)


# Failures of an inline fetch that have a message fit for the page; anything else is a bug.
INLINE_FETCH_ERRORS: tuple[type[Exception], ...] = (*fetch.FETCH_FAILURES, cache.CacheUnavailable)


def _report_read(
    request: HttpRequest,
    spec: reports.ReportSpec,
    *,
    with_job: bool = False,
    with_previous: bool = False,
) -> ReportRead:
    """Read a report for this request through services.report_lookup, within the user's caps.

    `with_job` also reads the status of the job fetching the report and the last failed fetch
    (the page shows them; the JSON endpoints do without the extra Redis reads). Redis down:
    fetch inline (degraded). Raises ReportRefused for everything a view answers with an error.
    """
    try:
        lookup = services.report_lookup(
            spec=spec,
            budget=_fetch_budget(request),
            read_cap=_read_cap(request),
            looked_up=_first_read(request, spec, conditional=False),
        )
        job = last_error = None
        if with_job and lookup.job_id:
            job_hash = cache.job_get(job_id=lookup.job_id) or {"state": "queued"}
            job = job_status(lookup.job_id, job_hash, now=time.time())
        # A stale report without a refresh may be one whose refresh failed a moment ago (and
        # waits before the next): the page says so.
        if with_job and (lookup.job_id or lookup.status == "stale"):
            last_error = _last_error(spec)
    except cache.ReadLimitReached:
        limit = settings.DASHBOARD_REPORT_READS_PER_MINUTE
        raise ReportRefused(
            status=429,
            message=f"More than {limit} report requests in a minute; wait a moment.",
            problem="Too many report requests",
            advice=(
                f"You asked for more than {limit} reports in a minute. Wait a moment, then reload."
            ),
        ) from None
    except services.FetchLimitReached as exc:
        raise ReportRefused(
            status=429,
            message=str(exc),
            problem="Too many reports started",
            advice=str(exc),
        ) from exc
    except cache.CacheUnavailable as exc:
        return _report_read_inline(request, spec, reason=str(exc))
    except services.WorkerUnavailable as exc:
        raise ReportRefused(
            status=503,
            message=str(exc),
            advice="Start the Celery worker and its broker (make run starts both), then reload.",
        ) from exc
    cached, previous_spec = lookup.cached, None
    if lookup.status == "pending" and with_previous:
        previous = _series_previous(spec)
        if previous is not None:
            previous_spec, cached = previous
    return ReportRead(
        spec=spec,
        # The same filters' last result, shown as stale while this interval's loads: the page
        # never goes blank because the clock moved the range on by a bucket.
        status="stale" if previous_spec is not None else lookup.status,
        job_id=lookup.job_id,
        cached=cached,
        as_of=cached.as_of if cached else 0.0,
        job=job,
        last_error=last_error,
        shown_spec=previous_spec,
    )


def _series_previous(
    spec: reports.ReportSpec,
) -> tuple[reports.ReportSpec, cache.CachedReport] | None:
    try:
        found = cache.series_previous(series_key=spec.series_key, report_key=spec.key)
    except cache.CacheUnavailable:
        return None
    if found is None:
        return None
    _key, cached = found
    shown = reports.ReportSpec.from_dict(orjson.loads(cached.payload)["spec"])
    # Only the clock moving the range on (they overlap, the new one starting later or with it
    # like "today"): other dates of the same filters are another report, not an older view.
    if not shown.start <= spec.start < shown.end:
        return None
    return shown, cached


def _report_read_inline(
    request: HttpRequest, spec: reports.ReportSpec, *, reason: str
) -> ReportRead:
    """Degraded mode (Redis down): fetch the report in this request, within the time budget
    and this process's and this user's bounds on direct fetches (services.report_fetch_inline)."""
    logger.error("report cache unavailable, fetching inline report=%s: %s", spec.key, reason)
    deadline = time.monotonic() + settings.DASHBOARD_INLINE_FETCH_SECONDS
    try:
        report = services.report_fetch_inline(
            spec=spec, user=str(request.user.pk), deadline=deadline
        )
    except services.InlineFetchRefused as exc:
        logger.warning("inline fetch refused report=%s: %s", spec.key, exc)
        raise ReportRefused(
            status=503,
            message=f"{reason}. {exc}.",
            problem=f"The report cache (Redis) is unavailable. {exc}.",
            advice=(
                "Check that Redis is running (make check-redis): with it back, reports are "
                "fetched in the background again."
            ),
        ) from exc
    except INLINE_FETCH_ERRORS as exc:
        logger.error("inline fetch failed report=%s: %s", spec.key, exc)
        failure = _inline_failure_message(exc)
        raise ReportRefused(
            status=503,
            message=f"{reason}. Fetching the report directly failed too: {failure}",
            problem=(
                "The report cache (Redis) is unavailable, and fetching the report directly "
                f"failed too: {failure}"
            ),
            advice=(
                "Check that Redis is running (make check-redis), or choose a shorter range "
                "so a direct fetch fits the time budget, then reload."
            ),
        ) from exc
    return ReportRead(
        spec=spec, status="degraded", fetched=report, as_of=time.time(), degraded_reason=reason
    )


def _inline_failure_message(exc: Exception) -> str:
    if isinstance(exc, fetch.FetchDeadlineExceeded):
        return (
            f"Fetching the report directly took longer than "
            f"{settings.DASHBOARD_INLINE_FETCH_SECONDS} s ({exc})."
        )
    return str(exc)


def _last_error(spec: reports.ReportSpec) -> dict[str, str] | None:
    """The report's last failed fetch, with its time in the report's zone."""
    error = cache.report_error_get(report_key=spec.key)
    if not error:
        return None
    at = datetime.fromtimestamp(float(error.get("at", 0)), tz=spec.tz)
    return {"message": str(error.get("message", "")), "at_label": f"{at:%H:%M}"}


def _json_report_read(
    request: HttpRequest, *, with_previous: bool = False
) -> ReportRead | HttpResponse:
    """The JSON endpoints' read: the report (fresh, stale or degraded), or the response that
    answers instead: 400 naming the field, the refusal's error, or 202 with the job fetching it
    (poll the job, then ask again)."""
    try:
        spec = _spec_build(request)
    except reports.ReportSpecError as exc:
        return _json_error(exc.message, status=400, field=exc.field)
    try:
        read = _report_read(request, spec, with_previous=with_previous)
    except ReportRefused as refused:
        return _json_error(refused.message, status=refused.status)
    if read.status != "pending":
        return read
    job_id = read.job_id or ""
    return JsonResponse(
        {
            "status": "pending",
            "job_id": job_id,
            "status_url": reverse("dashboard-api-job", args=[job_id]),
        },
        status=202,
    )


# --- the page -------------------------------------------------------------------------------------


@login_required
@require_safe
def index(request: HttpRequest) -> HttpResponse:
    queues = services.queue_choices()
    form = ReportFilterForm(request.GET, queue_choices=queues)
    context = _base_context(request, form)
    if not form.is_valid():
        return _render_index(request, context, status=400)
    spec = form.spec
    assert spec is not None
    context.update(
        spec=spec,
        filter_summary=filter_summary(spec, dict(queues)),
        page_title=_page_title(spec),
        range_label=_range_label(spec),
        granularity_label=GRANULARITY_LABELS[spec.granularity],
    )
    try:
        read = _report_read(request, spec, with_job=True, with_previous=True)
    except ReportRefused as refused:
        context.update(problem=refused.problem, advice=refused.advice)
        return _render_index(request, context, status=refused.status)
    if read.shown_spec is not None:
        # The range of the data on screen, not of the one still loading.
        context["range_label"] = _range_label(read.shown_spec)
    context.update(state=read.status, job=read.job, last_error=read.last_error)
    if read.status != "pending":
        context.update(
            _report_context(
                read.report(),
                as_of=read.as_of,
                drill_url=context["drill_url"],
                comparison=_comparison(request, spec, form["compare"].value()),
            )
        )
    if read.status == "degraded":
        context["degraded_reason"] = read.degraded_reason
    return _render_index(request, context)


def filter_summary(spec: reports.ReportSpec, queue_names: dict[str, str]) -> str:
    """The report's filters in one line, by name: what the page, the wall display and the
    exports say they show."""
    media = breakdowns.MEDIA_LABELS
    parts = [
        ", ".join(queue_names.get(q, q) for q in spec.queue_ids)
        if spec.queue_ids
        else "All queues",
        ", ".join(media.get(m, m) for m in spec.media_types) if spec.media_types else "all media",
        " and ".join(spec.directions) if spec.directions else "inbound and outbound",
    ]
    if spec.view_id != reports.DEFAULT_VIEW:
        parts.append(f"view {spec.view_id}")
    if spec.group:
        parts.append(f"per {breakdowns.GROUP_LABELS[spec.group].lower()}")
    parts.append(f"{spec.source} source")
    return " · ".join(parts)


def _page_title(spec: reports.ReportSpec) -> str:
    """The tab's title once the report is shown: what it is, then the product."""
    by = f"Per {breakdowns.GROUP_LABELS[spec.group].lower()} · " if spec.group else ""
    return f"{by}{_range_label(spec)} · Contact centre analytics"


def _range_label(spec: reports.ReportSpec) -> str:
    """The range in the report's zone. A range that reaches into the future (its last bucket is
    still filling) ends "now", never at a time that has not come yet."""
    zone = spec.tz
    start = spec.start.astimezone(zone)
    now = datetime.now(UTC)
    end = min(spec.end, now).astimezone(zone)
    until = f"now ({end:%H:%M})" if spec.end > now else f"{end:%a} {end.day} {end:%b %H:%M}"
    return f"{start:%a} {start.day} {start:%b %H:%M} – {until}"


@report_read_first
@api_get
def report_panel(request: HttpRequest) -> HttpResponse:
    """The report part of the page, for dashboard.js to redraw it without a reload (a job
    finished, an auto-refresh tick): the KPI tiles and the bucket table as HTML rendered from
    the page's own templates, and the chart data. Answers like /api/report: 200 with the
    report (fresh, stale or degraded), 202 with the job fetching it, errors as {"error": ...}.
    The page's pollers (auto-refresh, wallboards) send If-None-Match by themselves: an
    unchanged panel costs a 304 from one small Redis read, as /api/report does.
    """
    unchanged = _report_unchanged(request, etag_of=_panel_etag)
    if unchanged is not None:
        return unchanged
    read = _json_report_read(request, with_previous=True)
    if isinstance(read, HttpResponse):
        return read
    compare = request.GET.get("compare", "")
    comparison = _comparison(request, read.spec, compare if compare in COMPARE_SHIFTS else "")
    context = _report_context(
        read.report(),
        as_of=read.as_of,
        drill_url=_drill_url(_filter_query(request)),
        comparison=comparison,
    )
    response = JsonResponse(
        {
            "status": read.status,
            "job_id": read.job_id,
            "status_url": reverse("dashboard-api-job", args=[read.job_id]) if read.job_id else None,
            "message": DEGRADED_MESSAGE if read.status == "degraded" else "",
            "as_of_epoch": read.as_of,
            "as_of_label": context["as_of_label"],
            "range_label": _range_label(read.shown_spec or read.spec),
            "title": _page_title(read.spec),
            "kpis_html": render_to_string(KPI_TILES_TEMPLATE, context),
            "table_html": render_to_string(BUCKET_TABLE_TEMPLATE, context),
            "groups_html": render_to_string(GROUP_TABLE_TEMPLATE, context),
            "charts": context["charts"],
            # The previous period still loading: the page asks again in a moment.
            "compare_pending": bool(comparison and comparison.report is None),
        }
    )
    if read.status == "degraded" or read.shown_spec is not None or comparison:
        return response
    return _report_revalidated(response, etag=_panel_etag(read.spec, read.as_of))


# --- JSON API -------------------------------------------------------------------------------------


# What /api/report's answer starts with, before the cached payload's bytes.
REPORT_HEAD = b'{"report":'


@report_read_first
@api_get
def api_report(request: HttpRequest) -> HttpResponse:
    unchanged = _report_unchanged(request)
    if unchanged is not None:
        return unchanged
    read = _json_report_read(request)
    if isinstance(read, HttpResponse):
        return read
    if read.status == "degraded":
        body = orjson.dumps(
            {
                "status": "degraded",
                "job_id": None,
                "as_of_epoch": read.as_of,
                "message": DEGRADED_MESSAGE,
                "report": read.fetched,
            }
        )
        return HttpResponse(body, content_type="application/json")
    assert read.cached is not None
    # The cached payload is already the JSON document: splice its bytes into the envelope
    # rather than parse and re-serialise a report that may hold thousands of buckets. The
    # report first: what comes before the payload is then the same for every answer, and so is
    # its gzip CRC with the payload's (payload_gzip.gzip_wrap).
    tail = orjson.dumps(
        {
            "status": read.status,
            "job_id": read.job_id,
            "as_of_epoch": read.cached.as_of,
            "fresh_until_epoch": read.cached.fresh_until,
        }
    )
    tail = b"," + tail[1:]
    if _accepts_gzip(request):
        # The payload as the worker compressed it, once: only the envelope is deflated here.
        body = payload_gzip.gzip_wrap(head=REPORT_HEAD, payload=read.cached.deflated, tail=tail)
        response = HttpResponse(body, content_type="application/json")
        response["Content-Encoding"] = "gzip"
    else:
        body = REPORT_HEAD + read.cached.payload + tail
        response = HttpResponse(body, content_type="application/json")
    return _report_revalidated(response, etag=_report_etag(read.spec, read.cached.as_of))


def _accepts_gzip(request: HttpRequest) -> bool:
    """Whether Accept-Encoding lists gzip (or *) without refusing it with q=0."""
    for coding in request.META.get("HTTP_ACCEPT_ENCODING", "").split(","):
        name, _, params = coding.partition(";")
        if name.strip().lower() in ("gzip", "*"):
            quality = params.strip().lower().removeprefix("q=")
            try:
                return not params.strip() or float(quality) > 0
            except ValueError:
                return False
    return False


def _report_unchanged(
    request: HttpRequest,
    *,
    etag_of: Callable[[reports.ReportSpec, float], str] | None = None,
) -> HttpResponse | None:
    """304 Not Modified when the poller's If-None-Match names the fresh result still cached:
    one small Redis read, and the payload never leaves Redis. None: answer in full (a stale
    result, whose read starts its refresh; a changed one; a bad query; Redis down; over the
    read cap, which the full read then refuses, counting that read a second time)."""
    sent = request.META.get("HTTP_IF_NONE_MATCH")
    if not sent:
        return None
    try:
        spec = _spec_build(request)
        outcome, version = _first_read(request, spec, conditional=True) or cache.result_check(
            report_key=spec.key, now=time.time(), read_cap=_read_cap(request)
        )
    except (reports.ReportSpecError, cache.ReadLimitReached, cache.CacheUnavailable):
        return None
    if outcome != "fresh" or version is None:
        return None
    etag = (etag_of or _report_etag)(spec, version.as_of)
    # Weak comparison (RFC 9110 13.1.2): the tag names the result, whatever its encoding.
    if etag.removeprefix("W/") not in {tag.removeprefix("W/") for tag in parse_etags(sent)}:
        return None
    return _report_revalidated(HttpResponse(status=304), etag=etag)


def _report_etag(spec: reports.ReportSpec, as_of: float) -> str:
    return f'W/"{cache.result_version_tag(report_key=spec.key, as_of=as_of)}"'


def _panel_etag(spec: reports.ReportSpec, as_of: float) -> str:
    """/report/panel's tag: the result's, and what the panel adds to it that can change while
    the result does not: the range's "now (HH:MM)" and whether the group names are known yet."""
    names_known = bool(_group_names({"spec": {"group": spec.group}})) if spec.group else True
    extra = hashlib.sha256(f"{_range_label(spec)}|{names_known}".encode()).hexdigest()[:12]
    return f'{_report_etag(spec, as_of)[:-1]}-{extra}"'


def _report_revalidated(response: HttpResponse, *, etag: str) -> HttpResponse:
    """The result's ETag, and no-cache: the browser may keep the answer but asks again every
    time with If-None-Match (fetch() does that by itself), so a poll of an unchanged report
    costs a 304. private comes from private_cache_middleware."""
    response["ETag"] = etag
    # Set, not patched: the response is new, and parsing its headers was 4 % of a hit.
    response["Cache-Control"] = "no-cache"
    response["Vary"] = "Accept-Encoding"
    return response


@api_get
def api_queues(request: HttpRequest) -> HttpResponse:
    """The org's queues, (id, name) by name, for the queue picker of a page rendered before the
    list was cached; empty until a worker has loaded it (this asks for that)."""
    return JsonResponse({"queues": services.queue_choices()})


@api_get
def api_job(request: HttpRequest, job_id: str) -> HttpResponse:
    if not _JOB_ID_RE.match(job_id):
        return _json_error("No such job.", status=404)
    try:
        job = cache.job_get(job_id=job_id)
    except cache.CacheUnavailable as exc:
        return _json_error(str(exc), status=503)
    if job is None:
        return _json_error("No such job (finished jobs are forgotten after a day).", status=404)
    return JsonResponse(job_status(job_id, job, now=time.time()))


# --- exports --------------------------------------------------------------------------------------


# A download holds the report's data: no browser or proxy may keep a copy on disk.
@cache_control(private=True, no_store=True)
@login_required
@require_safe
def export_csv(request: HttpRequest) -> HttpResponse:
    return _export(request, file_format="csv")


@cache_control(private=True, no_store=True)
@login_required
@require_safe
def export_json(request: HttpRequest) -> HttpResponse:
    return _export(request, file_format="json")


@cache_control(private=True, no_store=True)
@login_required
@require_safe
def export_xlsx(request: HttpRequest) -> HttpResponse:
    return _export(request, file_format="xlsx")


EXPORT_CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _export_read(
    request: HttpRequest, *, drill: bool, missing: str
) -> tuple[reports.ReportSpec, dict[str, Any]] | HttpResponse:
    """An export's report from the cache only (a download link must never start a Genesys
    fetch), or the error that answers instead; `missing` says what to do on a miss."""
    try:
        spec = _spec_build(request, drill=drill)
    except reports.ReportSpecError as exc:
        return _json_error(exc.message, status=400, field=exc.field)
    try:
        cached = cache.result_get(report_key=spec.key)
    except cache.CacheUnavailable as exc:
        return _json_error(f"{exc}. Exports need the cache; try again shortly.", status=503)
    if cached is None:
        return _json_error(missing, status=409)
    return spec, orjson.loads(cached.payload)


def _export(request: HttpRequest, *, file_format: str) -> HttpResponse:
    found = _export_read(
        request,
        drill=False,
        missing="This report is not loaded yet. Open it on the dashboard, wait for the charts "
        "to appear, then export again.",
    )
    if isinstance(found, HttpResponse):
        return found
    spec, report = found
    queue_names = dict(services.queue_choices())
    zone = spec.tz
    stamp = "{:%Y-%m-%dT%H%M%z}"
    named = "_".join(queue_names.get(q, q) for q in spec.queue_ids[:3])
    stem = "_".join(
        part
        for part in (
            "report",
            f"by_{spec.group}" if spec.group else "",
            named,
            stamp.format(spec.start.astimezone(zone)),
            stamp.format(spec.end.astimezone(zone)),
            spec.granularity,
        )
        if part
    )
    meta = {
        "report": filter_summary(spec, queue_names),
        "range": f"{_range_label(spec)} ({spec.time_zone})",
        "granularity": spec.granularity,
        "time_zone": spec.time_zone,
        "source": str(report.get("source", spec.source)),
        "as_of": str(report.get("as_of", "")),
        "units": "_s: seconds; _pct: percent (0-100); start, end: local time in time_zone; "
        "start_utc: UTC",
    }
    if spec.group:
        document = exports.breakdown_document(
            report, names=_group_names(report), meta=meta, filename_stem=stem
        )
    else:
        document = exports.bucket_document(report, meta=meta, filename_stem=stem)
    if file_format == "csv":
        body = exports.csv_bytes(document)
    elif file_format == "xlsx":
        body = exports.xlsx_bytes(document)
    else:
        body = exports.json_bytes(
            document,
            extra={
                "spec": report.get("spec"),
                "source": report.get("source"),
                "as_of": report.get("as_of"),
                "time_zone": spec.time_zone,
                "totals": report.get("totals"),
            },
        )
    response = HttpResponse(body, content_type=EXPORT_CONTENT_TYPES[file_format])
    name = exports.filename(stem, file_format)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# --- drill-down ----------------------------------------------------------------------------------


def _drill_names() -> tuple[dict[str, str], dict[str, str]]:
    return dict(services.queue_choices()), services.user_names()


def _drill_summary(
    spec: reports.ReportSpec, queue_names: dict[str, str], user_names: dict[str, str]
) -> str:
    """What the listing holds, in words: its interval in the report's zone and its filters."""
    zone = spec.tz
    start, end = spec.start.astimezone(zone), min(spec.end, datetime.now(UTC)).astimezone(zone)
    same_day = start.date() == end.date()
    span = (
        f"{start:%a %d %b %H:%M}–{end:%H:%M}"
        if same_day
        else f"{start:%a %d %b %H:%M} – {end:%a %d %b %H:%M}"
    )
    parts = [f"{span} ({spec.time_zone})"]
    if spec.queue_ids:
        parts.append("queue " + ", ".join(queue_names.get(q, q) for q in spec.queue_ids))
    if spec.user_ids:
        parts.append("agent " + ", ".join(user_names.get(u, u) for u in spec.user_ids))
    if spec.media_types:
        parts.append(", ".join(breakdowns.MEDIA_LABELS.get(m, m) for m in spec.media_types))
    if spec.directions:
        parts.append(", ".join(spec.directions))
    return " · ".join(parts)


@login_required
@require_safe
def conversations(request: HttpRequest) -> HttpResponse:
    """The conversations behind a bucket or a group row: fetched by a worker like any report
    (single flight, progress shown), cached briefly, 50 to a page."""
    back_query = request.GET.copy()
    for name in ("at", "member", "page"):
        back_query.pop(name, None)
    context: dict[str, Any] = {
        "back_url": _with_query(reverse("dashboard-index"), back_query.urlencode(safe="/")),
        "state": "error",
    }
    try:
        spec = _spec_build(request, drill=True)
    except reports.ReportSpecError as exc:
        context.update(
            problem="These conversations cannot be listed",
            advice=f"{FIELD_LABELS.get(exc.field, exc.field)}: {exc.message}. Go back to the "
            "report and click a bucket or a row.",
        )
        return render(request, "dashboard/conversations.html", context, status=400)
    queue_names, user_names = _drill_names()
    query = request.GET.copy()
    query.pop("page", None)
    context.update(
        spec=spec,
        summary=_drill_summary(spec, queue_names, user_names),
        csv_url=_with_query(reverse("dashboard-conversations-csv"), query.urlencode(safe="/")),
        page_query=query.urlencode(safe="/"),
    )
    try:
        read = _report_read(request, spec, with_job=True)
    except ReportRefused as refused:
        context.update(problem=refused.problem, advice=refused.advice)
        return render(request, "dashboard/conversations.html", context, status=refused.status)
    context.update(state=read.status, job=read.job, last_error=read.last_error)
    if read.status == "pending":
        context["page_config"] = {
            "jobUrl": reverse("dashboard-api-job", args=[read.job_id]) if read.job_id else None
        }
    else:
        try:
            page = int(request.GET.get("page") or 1)
        except ValueError:
            page = 1
        context["listing"] = drilldown.listing_page(
            read.report(), page=page, queue_names=queue_names, user_names=user_names
        )
        context["page_config"] = {"jobUrl": None}
    return render(request, "dashboard/conversations.html", context)


@cache_control(private=True, no_store=True)
@login_required
@require_safe
def conversations_csv(request: HttpRequest) -> HttpResponse:
    """The listing's rows as CSV, from the cache only (like every export)."""
    found = _export_read(
        request,
        drill=True,
        missing="These conversations are not loaded yet (or were forgotten after 10 minutes). "
        "Open the list again, wait for it, then export.",
    )
    if isinstance(found, HttpResponse):
        return found
    spec, listing = found
    queue_names, user_names = _drill_names()
    rows = drilldown.export_rows(listing, queue_names=queue_names, user_names=user_names)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=drilldown.EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    stamp = f"{spec.start.astimezone(spec.tz):%Y-%m-%dT%H%M%z}"
    response["Content-Disposition"] = f'attachment; filename="conversations_{stamp}.csv"'
    return response


# --- saved views ---------------------------------------------------------------------------------

# How often beat refreshes a view saved from the page, in minutes.
SAVED_VIEW_REFRESH_MINUTES = (2, 5, 15, 60)


def _saved_views() -> list[dict[str, str]]:
    """Every enabled saved report, as a link to the page showing it (the Saved views menu)."""
    views = []
    for report in SavedReport.objects.filter(enabled=True).only("name", "params"):
        query = QueryDict(mutable=True)
        params = report.params if isinstance(report.params, dict) else {}
        for name, value in params.items():
            query.setlist(
                name, [str(v) for v in value] if isinstance(value, list) else [str(value)]
            )
        views.append(
            {"name": report.name, "url": _with_query(reverse("dashboard-index"), query.urlencode())}
        )
    return views


@login_required
@require_POST
def saved_view_create(request: HttpRequest) -> HttpResponse:
    """Staff: save the page's filters as a saved report (a "saved view"): everyone sees it in
    the Saved views menu, and beat keeps it warm at the interval chosen."""
    if not request.user.is_staff:
        raise PermissionDenied("Only staff can save views.")
    query = QueryDict(request.POST.get("query", ""), mutable=True)
    back = _with_query(reverse("dashboard-index"), query.urlencode(safe="/"))
    name = " ".join(request.POST.get("name", "").split())[:100]
    try:
        minutes = int(request.POST.get("refresh_minutes", ""))
    except ValueError:
        minutes = 0
    form = ReportFilterForm(query, queue_choices=services.queue_choices())
    if not name:
        messages.error(request, "Not saved: give the view a name.")
    elif minutes not in SAVED_VIEW_REFRESH_MINUTES:
        messages.error(request, "Not saved: choose how often it is refreshed.")
    elif not form.is_valid():
        messages.error(request, f"Not saved: {form.error_summary()}")
    elif SavedReport.objects.filter(name=name).exists():
        messages.error(request, f"Not saved: a view named {name!r} exists; choose another name.")
    else:
        params = {
            key: query.getlist(key) if key in ("type", "queue") else query.get(key, "")
            for key in SAVED_REPORT_FILTERS
            if query.get(key, "").strip()
        }
        SavedReport.objects.create(name=name, params=params, refresh_seconds=minutes * 60)
        logger.info("saved view created user=%s name=%r", request.user.pk, name)
        messages.success(request, f"Saved as {name!r}: it is in the Saved views menu for everyone.")
    return redirect(back)


# --- refresh ---------------------------------------------------------------------------------------


@login_required
@require_POST
def refresh(request: HttpRequest) -> HttpResponse:
    """Staff: fetch this report again now, even if fresh (joins a fetch already running)."""
    if not request.user.is_staff:
        raise PermissionDenied("Only staff can refresh reports.")
    # Back to the page the form was on; built from our own URL, so never an open redirect.
    back = _with_query(reverse("dashboard-index"), request.GET.urlencode(safe="/"))
    form = ReportFilterForm(request.GET, queue_choices=services.queue_choices())
    if not form.is_valid():
        messages.error(request, f"Not refreshed: {form.error_summary()}")
        return redirect(back)
    spec = form.spec
    assert spec is not None
    cooldown = settings.DASHBOARD_REFRESH_COOLDOWN_SECONDS
    try:
        if not cache.throttle_hit(
            name=f"dashboard:refresh:{request.user.pk}:{spec.key}",
            limit=1,
            window_seconds=cooldown,
        ):
            messages.info(
                request,
                f"You refreshed this report less than {cooldown} s ago; that refresh is still "
                "running or has just finished.",
            )
            return redirect(back)
        # Within the same caps as any read that starts a fetch: staff share the Genesys budget.
        lookup = services.report_lookup(
            spec=spec, force=True, budget=_fetch_budget(request), read_cap=_read_cap(request)
        )
        if lookup.cached is not None:
            # The page read next must show the old data as stale and follow the refresh job,
            # not serve it as fresh and hide that a refresh is running.
            cache.result_mark_stale(report_key=spec.key)
    except cache.ReadLimitReached:
        limit = settings.DASHBOARD_REPORT_READS_PER_MINUTE
        messages.error(
            request,
            f"Not refreshed: more than {limit} report requests in a minute; wait a minute, "
            "then try again.",
        )
        return redirect(back)
    except (
        cache.CacheUnavailable,
        services.WorkerUnavailable,
        services.FetchLimitReached,
    ) as exc:
        messages.error(request, f"Not refreshed: {exc}")
        return redirect(back)
    logger.info("staff refresh user=%s report=%s job=%s", request.user.pk, spec.key, lookup.job_id)
    messages.success(request, "Refreshing this report from the source.")
    return redirect(back)


# --- health ----------------------------------------------------------------------------------------


@require_safe
def healthz_live(request: HttpRequest) -> HttpResponse:
    """Liveness, for a load balancer or the container's health check: this web process serves
    requests. It checks nothing else on purpose: a web whose worker or Redis is down still serves
    pages from what it can, and pulling it would only make that worse (/healthz says what is
    down)."""
    return JsonResponse({"status": "ok"})


@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    """Readiness, for monitoring and `make run`: no login, no Genesys call, only our own parts
    (database, Redis, broker, a recent worker heartbeat, beat's last tick); 503 names the parts
    that failed."""
    checks = health.health_checks(now=time.time())
    healthy = all(value == health.OK for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", "checks": checks}, status=200 if healthy else 503
    )


@require_safe
def metrics_prometheus(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics, for staff or a scraper sending `Authorization: Bearer METRICS_TOKEN`."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    # compare_digest: the time taken must not tell how much of a guessed token was right.
    token_ok = bool(settings.METRICS_TOKEN) and hmac.compare_digest(
        token.strip().encode(), settings.METRICS_TOKEN.encode()
    )
    if not (token_ok and scheme.lower() == "bearer"):
        if not request.user.is_authenticated:
            response = HttpResponse("Log in as staff, or send the metrics token.\n", status=401)
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        if not request.user.is_staff:
            raise PermissionDenied("Only staff can read the metrics.")
    return HttpResponse(
        health.metrics_text(), content_type="text/plain; version=0.0.4; charset=utf-8"
    )
