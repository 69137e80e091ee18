"""The live queue wallboard: /live (logged in), /w/<token> (a wallboard link, no login), and the
JSON both poll, /api/live.

Every read goes to Redis only (analytics_worker.live: the snapshot beat's poller writes) and
renews the view's watcher, so beat keeps polling while a screen is open; a page never waits on
Genesys. /api/live answers If-None-Match with 304 after one small Redis read (the snapshot's
version).

A wallboard link's token opens its own live view and nothing else: /w/<token> renders the page
shell, whose script sends the token (read from its own address) in the X-Wallboard-Token header
to /api/live; no session is made, so nothing times out, and every other URL still requires a
login.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import redis
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.handlers.wsgi import get_bytes_from_wsgi
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_safe

from analytics_worker import cache, live, reports, services
from analytics_worker.redis_client import Read
from dashboard import live as live_tiles
from dashboard import sessions
from dashboard.models import WallboardLink

TILES_TEMPLATE = "dashboard/live_tiles.html"
TOKEN_HEADER = "X-Wallboard-Token"
_TOKEN_META = "HTTP_" + TOKEN_HEADER.upper().replace("-", "_")  # request.META's name for it
LOGIN_FIRST = "Log in to use the dashboard API, or open a wallboard link."


def _queue_ids(request: HttpRequest) -> tuple[str, ...]:
    """The `queue=` filter, validated as every report's is (ReportSpecError naming it)."""
    return _queue_ids_of(get_bytes_from_wsgi(request.META, "QUERY_STRING", ""))


# A screen asks with the same query string every few seconds: parsing and checking 20 queue
# ids was a fifth of an /api/live answer. The ids depend on the query alone (errors are not
# kept: they raise again).
@functools.lru_cache(maxsize=256)
def _queue_ids_of(query: bytes) -> tuple[str, ...]:
    spec = reports.report_spec_build(
        params={"range": "today", "queue": QueryDict(query).getlist("queue")},
        now=datetime.now(UTC),
    )
    return spec.queue_ids


def _zone() -> ZoneInfo:
    return ZoneInfo(settings.REPORT_DEFAULT_TIME_ZONE)


def _page(
    request: HttpRequest,
    *,
    queue_ids: tuple[str, ...],
    dark: bool,
    wallboard: WallboardLink | None,
    status: int = 200,
    problem: str = "",
) -> HttpResponse:
    names = dict(services.queue_choices())
    query = "&".join(f"queue={q}" for q in queue_ids)
    config = {
        "apiUrl": reverse("dashboard-api-live") + (f"?{query}" if query and not wallboard else ""),
        "pollSeconds": settings.LIVE_PAGE_POLL_SECONDS,
        "wallboard": wallboard is not None,
    }
    context = {
        "config": config,
        "dark": dark,
        "wallboard": wallboard,
        "problem": problem,
        "queue_names": [names.get(q, q) for q in queue_ids],
        "queue_choices": names.items(),
        "chosen": set(queue_ids),
    }
    return render(request, "dashboard/live.html", context, status=status)


@login_required
@require_safe
def live_page(request: HttpRequest) -> HttpResponse:
    dark = request.GET.get("dark", "") in ("1", "on", "true")
    try:
        queue_ids = _queue_ids(request)
    except reports.ReportSpecError as exc:
        return _page(request, queue_ids=(), dark=dark, wallboard=None, status=400, problem=str(exc))
    return _page(request, queue_ids=queue_ids, dark=dark, wallboard=None)


@require_safe
def wallboard(request: HttpRequest, token: str) -> HttpResponse:
    link = live_tiles.wallboard_link_for(token)
    if link is None:
        response = render(request, "dashboard/live_revoked.html", status=403)
    else:
        response = _page(request, queue_ids=tuple(link.queue_ids), dark=link.dark, wallboard=link)
    # The address holds the token: the page must not send it on to other sites.
    response["Referrer-Policy"] = "no-referrer"
    return response


def _error(message: str, *, status: int) -> HttpResponse:
    response = JsonResponse({"error": message}, status=status)
    response["Cache-Control"] = "no-store"
    return response


@require_safe
def api_live(request: HttpRequest) -> HttpResponse:
    token = request.META.get(_TOKEN_META, "")
    first: tuple[Any] | None = None  # the first read, when it went out with the session's
    if token:
        link = live_tiles.wallboard_link_for(token)
        if link is None:
            return _error(
                "This wallboard link was revoked or does not exist: ask a supervisor for a new "
                "one (Admin, Wallboard links).",
                status=403,
            )
        queue_ids = tuple(sorted(set(link.queue_ids)))
    else:
        try:
            queue_ids = _queue_ids(request)
        except reports.ReportSpecError as exc:
            if not request.user.is_authenticated:
                return _error(LOGIN_FIRST, status=401)
            return _error(exc.message, status=400)
        first = _read_with_session(request, queue_ids)
        if not request.user.is_authenticated:
            return _error(LOGIN_FIRST, status=401)

    try:
        if seen := request.META.get("HTTP_IF_NONE_MATCH", ""):
            version = first[0] if first else live.live_version_read(queue_ids=queue_ids)
            if version is not None and seen == _etag(version):
                return _not_modified(version)
            snapshot = live.live_snapshot_read(queue_ids=queue_ids)
        else:
            snapshot = first[0] if first else live.live_snapshot_read(queue_ids=queue_ids)
    except cache.CacheUnavailable as exc:
        return _error(
            f"{exc}. Live numbers come back by themselves once it is back (make check-redis).",
            status=503,
        )
    now = time.time()
    payload = orjson.loads(snapshot.payload) if snapshot is not None else None
    body = live_body(payload, now=now, version=snapshot.version if snapshot else "")
    response = HttpResponse(orjson.dumps(body), content_type="application/json")
    response["Cache-Control"] = "private, no-cache"
    if snapshot is not None:
        response["ETag"] = _etag(snapshot.version)
    return response


def _read_with_session(request: HttpRequest, queue_ids: tuple[str, ...]) -> tuple[Any] | None:
    """The read /api/live makes first (the version for a poll with If-None-Match, else the
    snapshot), sent with the loading of the session (one round trip), as (its value,); None
    when not made: a session this process has not seen, so a stranger renews no watcher."""
    if sessions.session_user_id(request) is None:
        return None
    read: Read[Any] = (
        live.live_version_reading(queue_ids=queue_ids)
        if request.META.get("HTTP_IF_NONE_MATCH")
        else live.live_snapshot_reading(queue_ids=queue_ids)
    )
    try:
        return (sessions.session_load_with(request, read),)
    except redis.RedisError:
        return None  # the session loads by itself, and the view's own read says what failed


def _etag(version: str) -> str:
    return f'"live-{version}"'


def _not_modified(version: str) -> HttpResponse:
    response = HttpResponse(status=304)
    response["ETag"] = _etag(version)
    response["Cache-Control"] = "private, no-cache"
    return response


def live_body(payload: dict[str, Any] | None, *, now: float, version: str = "") -> dict[str, Any]:
    """The JSON of /api/live: the status, each tile's numbers, and the tiles as HTML."""
    status, message = live_tiles.live_status(payload, now=now, zone=_zone())
    stale = status in ("stopped", "failed")
    parts = _parts_cached(payload, version=version, stale=stale) if version else None
    if parts is None:
        parts = _snapshot_parts(payload, stale=stale)
    return {"status": status, "message": message, "now": now, **parts}


# What a snapshot looks like on the page depends on the snapshot alone (and the thresholds,
# read again with each new snapshot): built once per version and web process, not per screen.
_PARTS_CACHE: OrderedDict[tuple[str, bool], dict[str, Any]] = OrderedDict()
_PARTS_CACHE_SIZE = 64
_parts_lock = threading.Lock()


def _parts_cached(
    payload: dict[str, Any] | None, *, version: str, stale: bool
) -> dict[str, Any] | None:
    key = (f"{(payload or {}).get('view')}:{version}", stale)
    with _parts_lock:
        if key in _PARTS_CACHE:
            _PARTS_CACHE.move_to_end(key)
            return _PARTS_CACHE[key]
    parts = _snapshot_parts(payload, stale=stale)
    with _parts_lock:
        _PARTS_CACHE[key] = parts
        while len(_PARTS_CACHE) > _PARTS_CACHE_SIZE:
            _PARTS_CACHE.popitem(last=False)
    return parts


def _snapshot_parts(payload: dict[str, Any] | None, *, stale: bool) -> dict[str, Any]:
    zone = _zone()
    queues = (payload or {}).get("queues") or []
    as_of = (payload or {}).get("as_of")
    # The longest waits as they were at the poll: live.js ticks them on from there.
    tiles = live_tiles.live_tiles(
        payload or {},
        thresholds=live_tiles.thresholds_for(q["id"] for q in queues),
        now=as_of if as_of is not None else time.time(),
    )
    poll = float((payload or {}).get("poll_seconds") or settings.LIVE_POLL_SECONDS)
    named = (payload or {}).get("queue_ids")
    return {
        # The page's header: the names once the poller has read them (the page itself may
        # render before the queue list is cached).
        "filter_label": (
            "Queues: " + ", ".join(t["name"] for t in tiles)
            if named and tiles
            else "All queues"
            if payload is not None and not named
            else ""
        ),
        "as_of": as_of,
        "as_of_label": f"{datetime.fromtimestamp(as_of, tz=zone):%H:%M:%S}" if as_of else "",
        "error": (payload or {}).get("error"),
        "stale_after_seconds": live_tiles.stale_after_seconds(poll),
        "queues": tiles,
        "tiles_html": render_to_string(TILES_TEMPLATE, {"tiles": tiles, "stale": stale}),
    }
