"""The dashboard page, its JSON API, exports, the staff refresh and the health check.

Every report read goes through services.report_lookup: fresh and stale hits are served from
Redis at once, a miss answers at once with the job that is fetching it (never waits on Genesys).
Only when Redis itself is down does a request fetch inline, within a time budget.
"""

from __future__ import annotations

import csv
import hmac
import io
import logging
import math
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from analytics_worker import cache, reports, services
from analytics_worker.genesys.errors import GenesysError
from dashboard import health, metrics

logger = logging.getLogger(__name__)

# Query parameters that shape the page but not the report: left out of export, API and
# "refresh" links so they name the same report key as the page.
PAGE_ONLY_PARAMS = ("auto", "wall")
AUTO_REFRESH_MINUTES = (0, 1, 5, 15)
# A job still queued after this long means no worker took it: say so instead of spinning.
QUEUED_TOO_LONG_SECONDS = 20
_JOB_ID_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")

RANGE_LABELS = {
    "today": "Today",
    "yesterday": "Yesterday",
    "last_24h": "Last 24 hours",
    "last_7d": "Last 7 days",
    "custom": "Custom dates",
}
GRANULARITY_LABELS = {"PT15M": "15 min", "PT30M": "30 min", "PT1H": "1 hour", "P1D": "1 day"}
MEDIA_TYPE_LABELS = {"voice": "Voice", "chat": "Chat", "email": "Email", "message": "Message"}
# The views of the simulated org; a real org's ids can be typed in.
KNOWN_VIEWS = ("all", "view-sales", "view-service")
COMMON_TIME_ZONES = (
    "UTC",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Lisbon",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Madrid",
    "Europe/Amsterdam",
    "Europe/Stockholm",
    "Europe/Warsaw",
    "Europe/Athens",
    "Europe/Istanbul",
    "Africa/Johannesburg",
    "Africa/Lagos",
    "Africa/Cairo",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Manila",
    "Asia/Singapore",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Perth",
    "Australia/Sydney",
    "Pacific/Auckland",
    "America/St_Johns",
    "America/Halifax",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/Mexico_City",
    "America/Bogota",
    "America/Santiago",
    "America/Sao_Paulo",
    "America/Argentina/Buenos_Aires",
)
FIELD_LABELS = {
    "range": "Range",
    "start": "From",
    "end": "To",
    "granularity": "Buckets",
    "tz": "Time zone",
    "type": "Media type",
    "direction": "Direction",
    "queue": "Queues",
    "view": "View",
    "source": "Source",
}


# --- helpers --------------------------------------------------------------------------------------


def _spec_build(request: HttpRequest) -> reports.ReportSpec:
    return reports.report_spec_build(
        params={name: request.GET.getlist(name) for name in request.GET},
        now=datetime.now(UTC),
        default_time_zone=settings.REPORT_DEFAULT_TIME_ZONE,
    )


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


def _auto_minutes(request: HttpRequest) -> int:
    try:
        minutes = int(request.GET.get("auto", "0"))
    except ValueError:
        return 0
    return minutes if minutes in AUTO_REFRESH_MINUTES else 0


def _read_cap(request: HttpRequest) -> cache.Throttle:
    """Per-user cap on report reads (page loads and /api/report), counted by report_lookup."""
    return cache.Throttle(
        name=f"dashboard:reads:{request.user.pk}",
        limit=settings.DASHBOARD_REPORT_READS_PER_MINUTE,
        window_seconds=60,
    )


def _fetch_allowed(request: HttpRequest) -> bool:
    """Per-user cap on new fetches started (joining a running fetch is not counted)."""
    return cache.throttle_hit(
        name=f"dashboard:fetches:{request.user.pk}",
        limit=settings.DASHBOARD_FETCHES_PER_MINUTE,
        window_seconds=60,
    )


def _queue_choices() -> list[tuple[str, str]]:
    # From the cache only (empty until a worker has loaded it): the form then falls back to a
    # free-text list of queue ids.
    try:
        return services.queue_choices()
    except cache.CacheUnavailable as exc:
        logger.warning("queue list unavailable: %s", exc)
        return []


def _split_values(values: list[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _form_values(request: HttpRequest) -> dict[str, Any]:
    """What the filter form shows: the request's own values (escaped by the template), so a
    rejected value is shown back to be fixed."""
    get = request.GET.get
    return {
        "range": get("range") or ("custom" if get("start") else reports.DEFAULT_RANGE),
        "start": get("start", ""),
        "end": get("end", ""),
        "granularity": get("granularity") or reports.DEFAULT_GRANULARITY,
        "tz": get("tz") or settings.REPORT_DEFAULT_TIME_ZONE,
        "types": _split_values(request.GET.getlist("type")),
        "direction": get("direction", ""),
        "queues": _split_values(request.GET.getlist("queue")),
        "view": get("view") or reports.DEFAULT_VIEW,
        "source": get("source", ""),
        "auto": _auto_minutes(request),
        "wall": get("wall") == "1",
    }


def _base_context(request: HttpRequest) -> dict[str, Any]:
    form = _form_values(request)
    queues = _queue_choices()
    known_queue_ids = {queue_id for queue_id, _ in queues}
    # Keep a bookmarked queue selectable even if the directory no longer lists it.
    if queues:
        queues += [(q, q) for q in form["queues"] if q not in known_queue_ids]
    filter_query = _filter_query(request)
    return {
        "form": form,
        "state": "error",
        "ranges": [(name, RANGE_LABELS[name]) for name in reports.RANGES],
        "granularities": [(name, GRANULARITY_LABELS[name]) for name in reports.GRANULARITY_MINUTES],
        "media_types": [(name, MEDIA_TYPE_LABELS[name]) for name in reports.MEDIA_TYPES],
        "directions": reports.DIRECTIONS,
        "queue_choices": queues,
        "known_views": KNOWN_VIEWS,
        "time_zones": COMMON_TIME_ZONES,
        "auto_choices": AUTO_REFRESH_MINUTES,
        "exit_wall_url": _with_query(reverse("dashboard-index"), _without(request, "wall")),
        "api_report_url": _with_query(reverse("dashboard-api-report"), filter_query),
        "csv_url": _with_query(reverse("dashboard-export-csv"), filter_query),
        "json_url": _with_query(reverse("dashboard-export-json"), filter_query),
        "refresh_url": _with_query(reverse("dashboard-refresh"), request.GET.urlencode(safe="/")),
    }


def _page_config(context: dict[str, Any], request: HttpRequest) -> dict[str, Any]:
    """Settings for dashboard.js, passed with json_script."""
    spec: reports.ReportSpec | None = context.get("spec")
    job = context.get("job")
    return {
        "state": context["state"],
        "apiReportUrl": context["api_report_url"],
        "jobUrl": reverse("dashboard-api-job", args=[job["id"]]) if job else None,
        "jobId": job["id"] if job else None,
        # dashboard.js swaps the placeholder for the id of a refresh job it learns about later.
        "jobUrlTemplate": reverse("dashboard-api-job", args=["JOB_ID"]),
        "asOfEpoch": context.get("as_of_epoch"),
        "timeZone": spec.time_zone if spec else context["form"]["tz"],
        "hasTzParam": bool(request.GET.get("tz")),
        "auto": context["form"]["auto"],
        "wall": context["form"]["wall"],
    }


def _render_index(
    request: HttpRequest, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    context["page_config"] = _page_config(context, request)
    return render(request, "dashboard/index.html", context, status=status)


def _report_context(report: dict[str, Any], *, as_of: float) -> dict[str, Any]:
    spec = report.get("spec") or {}
    zone = ZoneInfo(str(spec.get("time_zone") or "UTC"))
    as_of_local = datetime.fromtimestamp(as_of, tz=zone)
    return {
        "report": report,
        "as_of_epoch": as_of,
        "as_of_label": f"{as_of_local:%H:%M}",
        "as_of_iso": as_of_local.isoformat(timespec="seconds"),
        "age_label": _age_label(time.time() - as_of),
        "kpis": metrics.kpi_tiles(report),
        "rows": metrics.table_rows(report),
        "has_cc_metrics": metrics.report_has_contact_centre_metrics(report),
    }


def _age_label(seconds: float) -> str:
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


def job_public(job_id: str, job: dict[str, str], *, now: float) -> dict[str, Any]:
    """A job's status as the page and /api/jobs show it: numbers as numbers, plus one line of
    progress text written here only, so the page and the poller say the same thing."""
    state = job.get("state", "queued")
    created_at = _number(job.get("created_at")) or now
    wait_until = _number(job.get("wait_until"))
    pages = int(_number(job.get("pages")) or 0)
    items = int(_number(job.get("items")) or 0)
    message = job.get("message", "")
    stuck = state == "queued" and now - created_at > QUEUED_TOO_LONG_SECONDS
    so_far = f"{pages:,} page{'s' if pages != 1 else ''}, {items:,} conversations so far"
    if state == "queued":
        if stuck:
            progress = (
                f"Queued for {int(now - created_at)} s and no worker has picked it up: "
                "the Celery worker may be down. Check that it is running."
            )
        else:
            progress = "Queued: waiting for a worker to start the fetch…"
    elif state == "waiting":
        seconds = max(0, math.ceil((wait_until or now) - now))
        progress = f"Genesys asked us to wait {seconds} s; {so_far}."
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
        "progress": progress,
        "now": now,
    }


def _inline_fetch(spec: reports.ReportSpec) -> dict[str, Any]:
    """Degraded mode (Redis down): fetch the report in this request, within the time budget."""
    deadline = time.monotonic() + settings.DASHBOARD_INLINE_FETCH_SECONDS
    return services.report_fetch(spec=spec, deadline=deadline)


# Failures of an inline fetch that have a message fit for the page; anything else is a bug.
INLINE_FETCH_ERRORS = (services.FetchDeadlineExceeded, GenesysError, cache.CacheUnavailable)


def _inline_failure_message(exc: Exception) -> str:
    if isinstance(exc, services.FetchDeadlineExceeded):
        return (
            f"Fetching the report directly took longer than "
            f"{settings.DASHBOARD_INLINE_FETCH_SECONDS} s ({exc})."
        )
    return str(exc)


def _json_error(message: str, *, status: int, **extra: Any) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)


def api_get(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """@login_required and @require_GET for the JSON API, answering in JSON (401 and 405)
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


# --- the page -------------------------------------------------------------------------------------


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    context = _base_context(request)
    try:
        spec = _spec_build(request)
    except reports.ReportSpecError as exc:
        context.update(
            error_field=exc.field,
            error_label=FIELD_LABELS.get(exc.field, exc.field),
            error_message=exc.message,
        )
        return _render_index(request, context, status=400)
    context.update(
        spec=spec,
        range_label=_range_label(spec),
        granularity_label=GRANULARITY_LABELS[spec.granularity],
    )

    try:
        lookup = services.report_lookup(
            spec=spec, may_start=lambda: _fetch_allowed(request), read_cap=_read_cap(request)
        )
        if lookup.status == "pending":
            job = cache.job_get(job_id=lookup.job_id or "") or {"state": "queued"}
            context.update(
                state="pending",
                job=job_public(lookup.job_id or "", job, now=time.time()),
                last_error=_last_error(spec),
            )
            return _render_index(request, context)
        assert lookup.cached is not None
        if lookup.status == "stale" and lookup.job_id:
            job = cache.job_get(job_id=lookup.job_id) or {"state": "queued"}
            context["job"] = job_public(lookup.job_id, job, now=time.time())
            context["last_error"] = _last_error(spec)
    except cache.ReadLimitReached:
        context.update(
            problem="Too many report requests",
            advice=(
                f"You asked for more than {settings.DASHBOARD_REPORT_READS_PER_MINUTE} "
                "reports in a minute. Wait a moment, then reload."
            ),
        )
        return _render_index(request, context, status=429)
    except cache.CacheUnavailable as exc:
        return _index_degraded(request, context, spec=spec, reason=str(exc))
    except services.FetchLimitReached as exc:
        context.update(
            problem=str(exc), advice="Reports you opened are still loading; reload soon."
        )
        return _render_index(request, context, status=429)
    except services.WorkerUnavailable as exc:
        context.update(
            problem=str(exc),
            advice="Start the Celery worker and its broker (make run starts both), then reload.",
        )
        return _render_index(request, context, status=503)

    report = orjson.loads(lookup.cached.payload)
    context.update(state=lookup.status, **_report_context(report, as_of=lookup.cached.as_of))
    return _render_index(request, context)


def _index_degraded(
    request: HttpRequest, context: dict[str, Any], *, spec: reports.ReportSpec, reason: str
) -> HttpResponse:
    logger.error("report cache unavailable, fetching inline report=%s: %s", spec.key, reason)
    try:
        report = _inline_fetch(spec)
    except INLINE_FETCH_ERRORS as exc:
        logger.error("inline fetch failed report=%s: %s", spec.key, exc)
        context.update(
            problem=(
                "The report cache (Redis) is unavailable, and fetching the report directly "
                f"failed too: {_inline_failure_message(exc)}"
            ),
            advice=(
                "Check that Redis is running (make check-redis), or choose a shorter range "
                "so a direct fetch fits the time budget, then reload."
            ),
        )
        return _render_index(request, context, status=503)
    context.update(
        state="degraded", degraded_reason=reason, **_report_context(report, as_of=time.time())
    )
    return _render_index(request, context)


def _last_error(spec: reports.ReportSpec) -> dict[str, str] | None:
    """The report's last failed fetch, with its time in the report's zone."""
    error = cache.report_error_get(report_key=spec.key)
    if not error:
        return None
    at = datetime.fromtimestamp(float(error.get("at", 0)), tz=spec.tz)
    return {"message": str(error.get("message", "")), "at_label": f"{at:%H:%M}"}


def _range_label(spec: reports.ReportSpec) -> str:
    zone = spec.tz
    start = spec.start.astimezone(zone)
    end = spec.end.astimezone(zone)
    return f"{start:%a} {start.day} {start:%b %H:%M} – {end:%a} {end.day} {end:%b %H:%M}"


# --- JSON API -------------------------------------------------------------------------------------


@api_get
def api_report(request: HttpRequest) -> HttpResponse:
    try:
        spec = _spec_build(request)
    except reports.ReportSpecError as exc:
        return _json_error(exc.message, status=400, field=exc.field)
    try:
        lookup = services.report_lookup(
            spec=spec, may_start=lambda: _fetch_allowed(request), read_cap=_read_cap(request)
        )
    except cache.ReadLimitReached:
        return _json_error(
            f"More than {settings.DASHBOARD_REPORT_READS_PER_MINUTE} report requests in a "
            "minute; wait a moment.",
            status=429,
        )
    except services.FetchLimitReached as exc:
        return _json_error(str(exc), status=429)
    except cache.CacheUnavailable as exc:
        return _api_report_degraded(spec=spec, reason=str(exc))
    except services.WorkerUnavailable as exc:
        return _json_error(str(exc), status=503)

    if lookup.status == "pending":
        job_id = lookup.job_id or ""
        return JsonResponse(
            {
                "status": "pending",
                "job_id": job_id,
                "status_url": reverse("dashboard-api-job", args=[job_id]),
            },
            status=202,
        )
    assert lookup.cached is not None
    # The cached payload is already the JSON document: splice its bytes into the envelope
    # rather than parse and re-serialise a report that may hold thousands of buckets.
    head = orjson.dumps(
        {
            "status": lookup.status,
            "job_id": lookup.job_id,
            "as_of_epoch": lookup.cached.as_of,
            "fresh_until_epoch": lookup.cached.fresh_until,
        }
    )
    body = head[:-1] + b',"report":' + lookup.cached.payload + b"}"
    return HttpResponse(body, content_type="application/json")


def _api_report_degraded(*, spec: reports.ReportSpec, reason: str) -> HttpResponse:
    logger.error("report cache unavailable, fetching inline report=%s: %s", spec.key, reason)
    try:
        report = _inline_fetch(spec)
    except INLINE_FETCH_ERRORS as exc:
        logger.error("inline fetch failed report=%s: %s", spec.key, exc)
        return _json_error(
            f"{reason}. Fetching the report directly failed too: {_inline_failure_message(exc)}",
            status=503,
        )
    body = orjson.dumps(
        {
            "status": "degraded",
            "job_id": None,
            "as_of_epoch": time.time(),
            "message": (
                "Degraded: the report cache is unavailable, this was fetched directly from the "
                "source."
            ),
            "report": report,
        }
    )
    return HttpResponse(body, content_type="application/json")


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
    return JsonResponse(job_public(job_id, job, now=time.time()))


# --- exports --------------------------------------------------------------------------------------


@login_required
@require_GET
def export_csv(request: HttpRequest) -> HttpResponse:
    return _export(request, file_format="csv")


@login_required
@require_GET
def export_json(request: HttpRequest) -> HttpResponse:
    return _export(request, file_format="json")


def _export(request: HttpRequest, *, file_format: str) -> HttpResponse:
    """Exports read the cache only: a download link must never start a Genesys fetch."""
    try:
        spec = _spec_build(request)
    except reports.ReportSpecError as exc:
        return _json_error(exc.message, status=400, field=exc.field)
    try:
        cached = cache.result_get(report_key=spec.key)
    except cache.CacheUnavailable as exc:
        return _json_error(f"{exc}. Exports need the cache; try again shortly.", status=503)
    if cached is None:
        return _json_error(
            "This report is not loaded yet. Open it on the dashboard, wait for the charts to "
            "appear, then export again.",
            status=409,
        )
    report = orjson.loads(cached.payload)
    rows = metrics.export_rows(report)
    zone = spec.tz
    stamp = "{:%Y-%m-%dT%H%M%z}"
    filename = (
        f"report_{stamp.format(spec.start.astimezone(zone))}_"
        f"{stamp.format(spec.end.astimezone(zone))}_{spec.granularity}.{file_format}"
    )
    if file_format == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=metrics.EXPORT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    else:
        document = {
            "spec": report.get("spec"),
            "source": report.get("source"),
            "as_of": report.get("as_of"),
            "time_zone": spec.time_zone,
            "columns": list(metrics.EXPORT_COLUMNS),
            "rows": rows,
            "totals": report.get("totals"),
        }
        response = HttpResponse(
            orjson.dumps(document, option=orjson.OPT_INDENT_2), content_type="application/json"
        )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- refresh ---------------------------------------------------------------------------------------


@login_required
@require_POST
def refresh(request: HttpRequest) -> HttpResponse:
    """Staff: fetch this report again now, even if fresh (joins a fetch already running)."""
    if not request.user.is_staff:
        raise PermissionDenied("Only staff can refresh reports.")
    # Back to the page the form was on; built from our own URL, so never an open redirect.
    back = _with_query(reverse("dashboard-index"), request.GET.urlencode(safe="/"))
    try:
        spec = _spec_build(request)
    except reports.ReportSpecError as exc:
        messages.error(
            request, f"Not refreshed: {FIELD_LABELS.get(exc.field, exc.field)}: {exc.message}"
        )
        return redirect(back)
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
        lookup = services.report_lookup(spec=spec, force=True)
        if lookup.cached is not None:
            # The page read next must show the old data as stale and follow the refresh job,
            # not serve it as fresh and hide that a refresh is running.
            cache.result_mark_stale(report_key=spec.key)
    except (cache.CacheUnavailable, services.WorkerUnavailable) as exc:
        messages.error(request, f"Not refreshed: {exc}")
        return redirect(back)
    logger.info("staff refresh user=%s report=%s job=%s", request.user.pk, spec.key, lookup.job_id)
    messages.success(request, "Refreshing this report from the source.")
    return redirect(back)


# --- health ----------------------------------------------------------------------------------------


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """For monitoring and `make run`: no login, no Genesys call, only our own parts (database,
    Redis, broker, a recent worker heartbeat, beat's last tick); 503 names the parts that failed."""
    checks = health.health_checks(now=time.time())
    healthy = all(value == health.OK for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", "checks": checks}, status=200 if healthy else 503
    )


@require_GET
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
