"""What a live tile shows, computed once here for /live, /api/live and the wallboard links alike:
today's KPIs (through dashboard.kpis, where they are defined), the tile's colour and its reasons,
and whether the numbers are still live. live.js only draws what this module computed (and ticks
the longest wait between polls).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from django.utils import timezone

from dashboard import kpis
from dashboard.models import (
    LAST_USED_WRITE_EVERY,
    LiveThreshold,
    WallboardLink,
    wallboard_token_hash,
)

Level = Literal["ok", "amber", "red"]
_RANK = {"ok": 0, "amber": 1, "red": 2}
# The numbers are no longer live once they are this many polls old.
STALE_AFTER_POLLS = 3


def format_wait(seconds: float | None) -> str:
    """A wait as a wallboard shows it: m:ss, or h:mm:ss past an hour ("" for none)."""
    # live.js waitText() writes the same as it ticks: keep them in step.
    if seconds is None:
        return ""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def today_kpis(today: Mapping[str, Any] | None, threshold: LiveThreshold | None) -> dict[str, Any]:
    """Today's running offered, answered, abandon % and SL % against target of one queue, from
    the counts the poller copied out of today's cached report."""
    report = (today or {}).get("report")
    if not report:
        return {"available": False, "status": (today or {}).get("status", "pending")}
    totals = report.get("totals") or {}
    sl = kpis.KPIS["service_level_pct"].value(totals)
    target, target_text = kpis.service_level_target(report)
    if threshold is not None and threshold.service_level_target_pct is not None:
        target = threshold.service_level_target_pct
        target_text = f"target {target:g} %"
    return {
        "available": True,
        "status": today.get("status", "") if today else "",
        "as_of": today.get("as_of") if today else None,
        "offered": kpis.format_kpi("offered", kpis.KPIS["offered"].value(totals)),
        "answered": kpis.format_kpi("answered", kpis.KPIS["answered"].value(totals)),
        "abandon_pct": kpis.format_kpi("abandon_pct", kpis.KPIS["abandon_pct"].value(totals)),
        "service_level_pct": kpis.format_kpi("service_level_pct", sl),
        "service_level_value": sl,
        "target_pct": target,
        "target_text": target_text,
    }


def tile_level(
    queue: Mapping[str, Any],
    *,
    threshold: LiveThreshold | None,
    today: Mapping[str, Any],
    longest_wait: float | None,
) -> tuple[Level, list[str]]:
    """The tile's colour and why: the longest wait against the SL threshold (amber) and twice
    it (red), the SL % under target (red) or close to it (amber), calls waiting while no agent
    is idle (red unless staff chose otherwise)."""
    found: list[tuple[Level, str]] = []
    amber_wait = queue.get("sl_threshold_seconds")
    red_wait = None
    if threshold is not None and threshold.longest_wait_amber_seconds is not None:
        amber_wait = threshold.longest_wait_amber_seconds
    if threshold is not None and threshold.longest_wait_red_seconds is not None:
        red_wait = threshold.longest_wait_red_seconds
    elif amber_wait:
        red_wait = 2 * amber_wait
    if longest_wait is not None and red_wait and longest_wait >= red_wait:
        found.append(("red", f"Longest wait over {format_wait(red_wait)}"))
    elif longest_wait is not None and amber_wait and longest_wait >= amber_wait:
        found.append(("amber", f"Longest wait over {format_wait(amber_wait)}"))

    value, target = today.get("service_level_value"), today.get("target_pct")
    if value is not None and target is not None:
        margin = threshold.service_level_amber_points if threshold is not None else 5.0
        # Compared on the shown value, as the dashboard's SL tile does.
        if round(value, 1) < round(target, 1):
            found.append(("red", f"SL under target ({target:g} %)"))
        elif round(value, 1) < round(target + margin, 1):
            found.append(("amber", f"SL within {margin:g} points of target"))

    no_idle = threshold.no_idle_agent_level if threshold is not None else "red"
    if no_idle != "off" and queue.get("waiting") and not (queue.get("agents") or {}).get("idle"):
        found.append(("red" if no_idle == "red" else "amber", "Calls waiting, no agent idle"))

    level: Level = "ok"
    for each, _ in found:
        if _RANK[each] > _RANK[level]:
            level = each
    return level, [reason for _, reason in found]


def live_tiles(
    payload: Mapping[str, Any], *, thresholds: Mapping[str, LiveThreshold], now: float
) -> list[dict[str, Any]]:
    """Every tile of a snapshot, in its order; the longest waits as they are at `now`."""
    as_of = payload.get("as_of")
    tiles = []
    for queue in payload.get("queues") or ():
        threshold = thresholds.get(queue["id"])
        today = today_kpis(queue.get("today"), threshold)
        since = queue.get("oldest_waiting_since")
        longest_at_poll = as_of - since if since is not None and as_of is not None else None
        level, reasons = tile_level(
            queue, threshold=threshold, today=today, longest_wait=longest_at_poll
        )
        longest_now = now - since if since is not None else None
        tiles.append(
            {
                "id": queue["id"],
                "name": queue["name"],
                "waiting": queue["waiting"],
                "interacting": queue["interacting"],
                "alerting": queue["alerting"],
                "agents": queue["agents"],
                "oldest_waiting_since": since,
                "longest_wait_seconds": longest_now,
                "longest_wait": format_wait(longest_now) if queue["waiting"] else "",
                "today": today,
                "level": level,
                "reasons": reasons,
            }
        )
    return tiles


LiveStatus = Literal["starting", "live", "stopped", "failed"]


def live_status(
    payload: Mapping[str, Any] | None, *, now: float, zone: ZoneInfo
) -> tuple[LiveStatus, str]:
    """Whether the snapshot is live, and the sentence the page shows when it is not."""
    if payload is None:
        return "starting", "Starting live data: the first numbers arrive within a few seconds."
    as_of, error = payload.get("as_of"), payload.get("error")
    if as_of is None:
        return "failed", f"No live data: {error}" if error else "No live data yet."
    poll = float(payload.get("poll_seconds") or 10)
    if now - as_of > STALE_AFTER_POLLS * poll:
        stopped = datetime.fromtimestamp(as_of, tz=zone)
        why = (
            f" {error}."
            if error
            else " The live poller is not running: check that the Celery worker and beat "
            "are up (make run starts both)."
        )
        return "stopped", f"Live data stopped at {stopped:%H:%M}.{why}"
    return "live", f"Last poll skipped: {error}." if error else ""


def thresholds_for(queue_ids: Iterable[str]) -> dict[str, LiveThreshold]:
    return {t.queue_id: t for t in LiveThreshold.objects.filter(queue_id__in=list(queue_ids))}


def wallboard_link_for(token: str) -> WallboardLink | None:
    """The usable link of a token (None when unknown or revoked); notes its use, at most once a
    minute (a TV asks every few seconds)."""
    if not token or len(token) > 100:
        return None
    link = WallboardLink.objects.usable().filter(token_hash=wallboard_token_hash(token)).first()
    if link is None:
        return None
    now = timezone.now()
    if link.last_used_at is None or now - link.last_used_at > LAST_USED_WRITE_EVERY:
        WallboardLink.objects.filter(pk=link.pk).update(last_used_at=now)
    return link


def stale_after_seconds(poll_seconds: float) -> int:
    return math.ceil(STALE_AFTER_POLLS * poll_seconds)
