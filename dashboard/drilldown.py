"""A drill-down as a person reads it: the conversations behind a bucket or a group, a page at
a time, with names for queue and agent ids, times in the report's zone, and each conversation
linked to Genesys Cloud's own interaction view."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings

from dashboard import kpis
from dashboard.breakdowns import MEDIA_LABELS

PAGE_SIZE = 50
# Column key -> heading; times are seconds, shown as kpis.format_duration does.
COLUMNS = (
    ("start", "Start"),
    ("media", "Media"),
    ("direction", "Direction"),
    ("queues", "Queue"),
    ("agents", "Agent"),
    ("wait", "Wait"),
    ("talk", "Talk"),
    ("hold", "Hold"),
    ("acw", "ACW"),
    ("outcome", "Outcome"),
    ("id", "Conversation"),
)
# The CSV export: the same rows, times in seconds, ids beside names.
EXPORT_COLUMNS = (
    "start",
    "start_utc",
    "media",
    "direction",
    "queues",
    "queue_ids",
    "agents",
    "user_ids",
    "wait_s",
    "talk_s",
    "hold_s",
    "acw_s",
    "outcome",
    "conversation_id",
    "genesys_url",
)


def interaction_url(conversation_id: str) -> str:
    """The conversation in Genesys Cloud's interaction view, in the configured region."""
    return f"{settings.GENESYS_APPS_URL}/directory/#/engage/admin/interactions/{conversation_id}"


def _names(ids: list[str], names: Mapping[str, str]) -> str:
    return ", ".join(names.get(one, one) for one in ids)


def _row(
    found: Mapping[str, Any],
    *,
    zone: ZoneInfo,
    queue_names: Mapping[str, str],
    user_names: Mapping[str, str],
) -> dict[str, Any]:
    start = datetime.fromisoformat(str(found["start"]))
    return {
        "id": found["id"],
        "url": interaction_url(str(found["id"])),
        "start": start.astimezone(zone),
        "start_utc": start,
        "media": MEDIA_LABELS.get(str(found.get("media")), str(found.get("media") or "")),
        "direction": str(found.get("direction") or "").capitalize(),
        "queues": _names(found.get("queue_ids") or [], queue_names),
        "agents": _names(found.get("user_ids") or [], user_names),
        "times": {name: found.get(name) for name in ("wait", "talk", "hold", "acw")},
        # Outcomes in queue; agent outbound never queued, so it has none of its own.
        "outcome": ", ".join(found.get("outcomes") or [])
        or ("outbound" if found.get("direction") == "outbound" else "—"),
    }


def listing_page(
    report: Mapping[str, Any],
    *,
    page: int,
    queue_names: Mapping[str, str],
    user_names: Mapping[str, str],
) -> dict[str, Any]:
    """One page of the listing (1-based, clamped to the pages there are) and what the page
    says about the whole: how many, and whether more started than the listing keeps."""
    spec = report.get("spec") or {}
    zone = ZoneInfo(str(spec.get("time_zone") or "UTC"))
    found = report.get("conversations") or []
    pages = max(1, math.ceil(len(found) / PAGE_SIZE))
    page = min(max(page, 1), pages)
    shown = found[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    rows = []
    for item in shown:
        row = _row(item, zone=zone, queue_names=queue_names, user_names=user_names)
        row["start_label"] = f"{row['start']:%a %d %b %H:%M:%S}"
        row["cells"] = {
            name: kpis.format_duration(value) if value is not None else "—"
            for name, value in row["times"].items()
        }
        rows.append(row)
    return {
        "rows": rows,
        "count": len(found),
        "more": bool(report.get("more")),
        "page": page,
        "pages": pages,
        "first": (page - 1) * PAGE_SIZE + 1 if found else 0,
        "last": (page - 1) * PAGE_SIZE + len(shown),
        "columns": COLUMNS,
    }


def export_rows(
    report: Mapping[str, Any], *, queue_names: Mapping[str, str], user_names: Mapping[str, str]
) -> list[dict[str, Any]]:
    spec = report.get("spec") or {}
    zone = ZoneInfo(str(spec.get("time_zone") or "UTC"))
    rows = []
    for item in report.get("conversations") or []:
        row = _row(item, zone=zone, queue_names=queue_names, user_names=user_names)
        rows.append(
            {
                # Local time without offset parses in spreadsheets; the UTC column keeps it exact.
                "start": f"{row['start']:%Y-%m-%d %H:%M:%S}",
                "start_utc": row["start_utc"].astimezone(ZoneInfo("UTC")).isoformat(),
                "media": row["media"],
                "direction": row["direction"],
                "queues": row["queues"],
                "queue_ids": " ".join(item.get("queue_ids") or []),
                "agents": row["agents"],
                "user_ids": " ".join(item.get("user_ids") or []),
                **{f"{name}_s": value for name, value in row["times"].items()},
                "outcome": row["outcome"],
                "conversation_id": row["id"],
                "genesys_url": row["url"],
            }
        )
    return rows
