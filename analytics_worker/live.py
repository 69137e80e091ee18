"""The live queue wallboard's data: who watches which queues, beat's poll of the queue
observations for them, and the one snapshot per watched view that pages read.

A *view* is a set of queues (sorted ids), or every queue (the empty set). Each read of a view
(the /live page, /api/live) renews a watcher key for it with a TTL of LIVE_WATCH_SECONDS. Every
LIVE_POLL_SECONDS beat runs live_poll(), which polls only while some watcher key is alive: one
observations query per 100 queues of the union of every watched view (so the cost follows the
queues watched, never the number of screens), plus today's report of each queue from the
report cache. It writes each view's snapshot: one Redis hash {version, payload}, where version
changes with every write (the ETag) and the payload is the JSON the page draws.

The poll is charged to the shared Genesys rate limit like every request (genesys_request); it
runs on the interactive queue at the top priority (ahead of beat's prefetch, settings'
CELERY_BEAT_SCHEDULE), and it skips its turn, doubling the wait each time, while the shared
budget is short (the next free slot is far off, or Genesys asked every worker to pause) or
Genesys fails. A snapshot keeps the last good numbers with their `as_of`, and says why it is
not newer: pages never show them as live.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
import redis
from django.conf import settings

from analytics_worker import cache, reports, services
from analytics_worker.genesys import queues as genesys_queues
from analytics_worker.genesys.auth import client_fingerprint
from analytics_worker.genesys.errors import GenesysError
from analytics_worker.genesys.http import FetchProgress
from analytics_worker.genesys.observations import QueueObservation, queue_observations_query
from analytics_worker.redis_client import (
    Read,
    as_text,
    get_redis,
    live_backoff_key,
    live_poll_slot_key,
    live_snapshot_key,
    live_watch_key,
    live_watchers_key,
    metric_incr,
    rate_limit_next_key,
    rate_limit_pause_key,
    read_run,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

# A snapshot nobody reads any more is kept this long, so a screen that comes back after a
# pause says when its numbers stopped instead of starting blank.
SNAPSHOT_TTL_SECONDS = 3600
# Longest wait after failures in a row or a short budget (two poll intervals after the first, doubling).
MAX_BACKOFF_SECONDS = 300
# The report fields a tile reads (dashboard.kpis computes abandon % and SL % from them).
TODAY_FIELDS = (
    "offered",
    "answered",
    "abandoned",
    "sl_numerator",
    "sl_denominator",
    "sl_target_weight",
    "sl_target_sum",
)


@dataclass(frozen=True)
class LiveSnapshot:
    version: str
    payload: bytes  # the JSON document


def live_view_key(queue_ids: Sequence[str]) -> str:
    """The name of a view: "all", or a short hash of its sorted queue ids."""
    ids = sorted(set(queue_ids))
    if not ids:
        return "all"
    return hashlib.sha256(",".join(ids).encode()).hexdigest()[:20]


# --- the web side: one Redis round trip per read ------------------------------------------------


def live_version_read(*, queue_ids: Sequence[str]) -> str | None:
    """Renew the view's watcher and read its snapshot's version only (for If-None-Match).
    Raises cache.CacheUnavailable when Redis is down."""
    return _read_alone(live_version_reading(queue_ids=queue_ids))


def live_snapshot_read(*, queue_ids: Sequence[str]) -> LiveSnapshot | None:
    """Renew the view's watcher and read its snapshot (None before the first poll).
    Raises cache.CacheUnavailable when Redis is down."""
    return _read_alone(live_snapshot_reading(queue_ids=queue_ids))


def live_version_reading(*, queue_ids: Sequence[str]) -> Read[str | None]:
    """live_version_read as a Read, to share a round trip (redis_client.reads_run)."""
    return _watch_and_read(queue_ids, fields=("version",), parse=lambda version, _: version)


def live_snapshot_reading(*, queue_ids: Sequence[str]) -> Read[LiveSnapshot | None]:
    """live_snapshot_read as a Read, to share a round trip (redis_client.reads_run)."""

    def snapshot(version: str | None, payload: bytes | None) -> LiveSnapshot | None:
        if version is None or payload is None:
            return None
        return LiveSnapshot(version=version, payload=payload)

    return _watch_and_read(queue_ids, fields=("version", "payload"), parse=snapshot)


def _read_alone(read: Read[T]) -> T:
    try:
        return read_run(read)
    except redis.RedisError as exc:
        raise cache.CacheUnavailable(
            f"The live data store (Redis) is unavailable: {type(exc).__name__}"
        ) from exc


def _watch_and_read(
    queue_ids: Sequence[str],
    *,
    fields: Sequence[str],
    parse: Callable[[str | None, bytes | None], T],
) -> Read[T]:
    view = live_view_key(queue_ids)
    ttl = settings.LIVE_WATCH_SECONDS
    watched = orjson.dumps(sorted(set(queue_ids)))

    commands = (
        ("SET", live_watch_key(view), watched, "EX", ttl),
        ("ZADD", live_watchers_key(), time.time() + ttl, view),
        ("HMGET", live_snapshot_key(view), *fields),
    )

    def values(replies: list[Any]) -> T:
        found = replies[-1]
        version = as_text(found[0]) if found[0] is not None else None
        payload = found[1] if len(found) > 1 else None
        if isinstance(payload, str):
            payload = payload.encode()
        return parse(version, payload)

    return Read(commands=commands, parse=values)


# --- the poll (beat, every LIVE_POLL_SECONDS) ----------------------------------------------------


def live_watched_views() -> dict[str, list[str]]:
    """view -> its queue ids ([] = every queue), of every view someone watches now."""
    client = get_redis()
    client.zremrangebyscore(live_watchers_key(), "-inf", time.time())
    names = [as_text(view) for view in client.zrange(live_watchers_key(), 0, -1)]  # type: ignore[arg-type]
    views = {}
    for view, value in zip(
        names, client.mget([live_watch_key(v) for v in names]) if names else [], strict=True
    ):
        if value is not None:  # None: it expired since
            views[view] = [str(queue_id) for queue_id in orjson.loads(value)]
    return views


def live_poll(*, now: float | None = None) -> str:
    """One poll for every watched view; what happened, in a word (for logs and tests):
    idle (nobody watches), busy (another poll has this turn), backoff, budget, failed, polled."""
    now = time.time() if now is None else now
    client = get_redis()
    views = live_watched_views()
    if not views:
        return "idle"
    # One poll per interval whatever beat does (two beats, a tick delivered late): the slot
    # expires just before the next one is due.
    slot_ms = max(500, int(settings.LIVE_POLL_SECONDS * 1000) - 500)
    if not client.set(live_poll_slot_key(), repr(now), nx=True, px=slot_ms):
        return "busy"
    backoff = client.hgetall(live_backoff_key())
    if backoff and float(backoff.get(b"until", 0)) > now:
        return "backoff"
    short = _budget_short(now=now)
    if short:
        _backoff_record(now=now, reason=short, views=views, backoff=backoff)
        return "budget"

    names = dict(genesys_queues.queue_list())  # cached; a worker may load it
    wanted: list[str] = []
    for queue_ids in views.values():
        wanted.extend(queue_ids or names)
    wanted = list(dict.fromkeys(wanted))
    try:
        if not wanted:
            raise GenesysError(
                "The queue list is unavailable, so there is nothing to watch for all queues: "
                "check the Genesys connection (/healthz), or choose queues in the URL"
            )
        # Never run into the next poll's turn: a slow Genesys fails this one instead.
        progress = FetchProgress(deadline=time.monotonic() + settings.LIVE_POLL_SECONDS)
        observed = queue_observations_query(queue_ids=wanted, progress=progress)
    except GenesysError as exc:
        logger.warning("live poll failed: %s", exc)
        metric_incr("gad_live_polls_total", outcome="failed")
        _backoff_record(now=now, reason=str(exc), views=views, backoff=backoff)
        return "failed"
    metric_incr("gad_live_polls_total", outcome="polled")
    metric_incr("gad_live_requests_total", amount=progress.requests)
    client.delete(live_backoff_key())
    today = {queue_id: _today(queue_id, now=now) for queue_id in wanted}
    levels = genesys_queues.queue_service_levels_cached() or {}
    version = f"{int(now * 1000):x}"
    with client.pipeline(transaction=False) as pipe:
        for view, queue_ids in views.items():
            shown = sorted(queue_ids, key=lambda q: (str(names.get(q, q)).casefold(), q)) or list(
                names
            )
            payload = {
                "view": view,
                "queue_ids": queue_ids,
                "as_of": now,
                "poll_seconds": settings.LIVE_POLL_SECONDS,
                "error": None,
                "error_at": None,
                "queues": [
                    _queue_entry(
                        observed[queue_id], name=names.get(queue_id, queue_id),
                        levels=levels.get(queue_id, {}), today=today[queue_id],
                    )
                    for queue_id in shown
                ],
            }  # fmt: skip
            key = live_snapshot_key(view)
            pipe.hset(key, mapping={"version": version, "payload": orjson.dumps(payload)})
            pipe.expire(key, SNAPSHOT_TTL_SECONDS)
        pipe.execute()
    return "polled"


def _budget_short(*, now: float) -> str:
    """Why the shared Genesys budget cannot take a live poll now ("" when it can): Genesys
    asked every worker to pause, or other requests hold the slots for longer than half a poll
    interval (a poll sent then would be old before it is answered)."""
    fingerprint = client_fingerprint()
    next_at, paused_until = get_redis().mget(
        rate_limit_next_key(fingerprint), rate_limit_pause_key(fingerprint)
    )
    if paused_until and float(paused_until) > now:
        return (
            f"Genesys rate limited the org's requests (HTTP 429): live data resumes in "
            f"{float(paused_until) - now:.0f} s"
        )
    backlog = float(next_at) - now if next_at else 0.0
    if backlog > settings.LIVE_POLL_SECONDS / 2:
        return (
            f"The shared budget of requests to Genesys is taken for the next {backlog:.0f} s "
            "(large reports are being fetched): live data waits its turn"
        )
    return ""


def _backoff_record(
    *, now: float, reason: str, views: dict[str, list[str]], backoff: Mapping[Any, Any]
) -> None:
    """Skip polls for a while (doubling), and mark every watched snapshot with the reason,
    keeping its last numbers and their as_of."""
    failures = int(backoff.get(b"failures", 0)) + 1
    wait = min(MAX_BACKOFF_SECONDS, settings.LIVE_POLL_SECONDS * 2**failures)
    client = get_redis()
    client.hset(
        live_backoff_key(),
        mapping={"until": repr(now + wait), "failures": failures, "reason": reason},
    )
    client.expire(live_backoff_key(), MAX_BACKOFF_SECONDS * 2)
    for view, queue_ids in views.items():
        key = live_snapshot_key(view)
        old = client.hget(key, "payload")
        payload = (
            orjson.loads(old)
            if old
            else {"view": view, "queue_ids": queue_ids, "as_of": None, "queues": []}
        )
        payload.update(error=reason, error_at=now, poll_seconds=settings.LIVE_POLL_SECONDS)
        client.hset(
            key, mapping={"version": f"{int(now * 1000):x}e", "payload": orjson.dumps(payload)}
        )
        client.expire(key, SNAPSHOT_TTL_SECONDS)


def live_today_spec(queue_id: str, *, now: float) -> reports.ReportSpec:
    """Today's report of one queue: the same spec (so the same cache key) as the dashboard's
    /?range=today&queue=<id>, which beat may keep warm as a saved report."""
    return reports.report_spec_build(
        params={"range": "today", "queue": queue_id},
        now=datetime.fromtimestamp(now, UTC),
        default_time_zone=settings.REPORT_DEFAULT_TIME_ZONE,
    )


def _today(queue_id: str, *, now: float) -> dict[str, Any] | None:
    """Today's running counts of a queue from the report cache (a stale or missing report
    starts its one refresh, single flight, ahead of prefetch: someone is watching)."""
    try:
        spec = live_today_spec(queue_id, now=now)
        lookup = services.report_lookup(spec=spec, kind="interactive")
    except reports.ReportSpecError:
        return None
    except services.WorkerUnavailable as exc:
        logger.warning("live: today's report of %s not started: %s", queue_id, exc)
        return None
    if lookup.cached is None:
        return {"status": "pending", "as_of": None, "report": None}
    report = orjson.loads(lookup.cached.payload)
    totals = report.get("totals") or {}
    return {
        "status": lookup.status,
        "as_of": lookup.cached.as_of,
        "report": {
            "source": report.get("source"),
            "service_level_goal": report.get("service_level_goal"),
            "totals": {name: totals[name] for name in TODAY_FIELDS if name in totals},
        },
    }


# Genesys's routing statuses as the tiles count agents (COMMUNICATING, a non-queue call, is busy).
_AGENT_GROUPS = {
    "idle": ("IDLE",),
    "interacting": ("INTERACTING", "COMMUNICATING"),
    "not_responding": ("NOT_RESPONDING",),
    "off_queue": ("OFF_QUEUE",),
}


def _queue_entry(
    observation: QueueObservation,
    *,
    name: str,
    levels: genesys_queues.ServiceLevels,
    today: dict[str, Any] | None,
) -> dict[str, Any]:
    since = observation.oldest_waiting_since
    # The threshold the longest wait is held to: the queue's voice service level (a wallboard
    # is mostly about calls), else its shortest; staff may override it per queue.
    threshold_ms = (levels.get("voice") or min(levels.values(), default=(0, 0)))[1] or None
    return {
        "id": observation.queue_id,
        "name": name,
        "waiting": observation.waiting,
        "interacting": observation.interacting,
        "alerting": observation.alerting,
        "oldest_waiting_since": since.timestamp() if since else None,
        "agents": {
            group: sum(observation.users_by_status.get(status, 0) for status in statuses)
            for group, statuses in _AGENT_GROUPS.items()
        },
        "sl_threshold_seconds": threshold_ms / 1000 if threshold_ms else None,
        "today": today,
    }
