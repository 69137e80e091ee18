"""The Genesys Cloud users aggregates query (POST /api/v2/analytics/users/aggregates/query):
each agent's time in each routing status (tAgentRoutingStatus) per interval, at most
MAX_USERS agents a request (the figure production integrations keep to).

Genesys names the status of each tAgentRoutingStatus entry in its `qualifier` (IDLE,
INTERACTING, NOT_RESPONDING, COMMUNICATING, OFF_QUEUE); where an answer groups by routingStatus
instead, the group names it. This module knows Genesys's shapes only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from analytics_worker.genesys.errors import GenesysProtocolError
from analytics_worker.genesys.http import FetchProgress, genesys_request
from analytics_worker.genesys.query import interval_start, interval_text, query_filter

USERS_AGGREGATES_PATH = "/api/v2/analytics/users/aggregates/query"
MAX_USERS = 100
ROUTING_STATUS = "tAgentRoutingStatus"


@dataclass(frozen=True)
class UserStatusRow:
    """One interval of one agent: milliseconds in each routing status."""

    user_id: str
    start: datetime
    status_ms: dict[str, float]


def user_status_query(
    *,
    start: datetime,
    end: datetime,
    granularity: str,
    time_zone: str,
    user_ids: Sequence[str],
    progress: FetchProgress | None = None,
) -> list[UserStatusRow]:
    """One request for at most MAX_USERS agents' routing-status times in [start, end)."""
    if not 1 <= len(user_ids) <= MAX_USERS:
        raise ValueError(f"one users aggregates query takes 1 to {MAX_USERS} users")
    body = genesys_request(
        "POST",
        USERS_AGGREGATES_PATH,
        json={
            "interval": interval_text(start, end),
            "granularity": granularity,
            "timeZone": time_zone,
            "groupBy": ["userId"],
            "metrics": [ROUTING_STATUS],
            "filter": query_filter([("userId", list(user_ids))]),
        },
        progress=progress,
    )
    results = body.get("results", []) if isinstance(body, dict) else None
    if not isinstance(results, list):
        raise GenesysProtocolError("The users aggregates query answered without a results list")
    rows = []
    for result in results:
        group = result.get("group") if isinstance(result, dict) else None
        if not isinstance(group, dict) or not isinstance(group.get("userId"), str):
            continue  # no agent to file it under
        for item in result.get("data") or []:
            rows.append(
                UserStatusRow(
                    user_id=group["userId"],
                    start=interval_start(
                        item.get("interval") if isinstance(item, dict) else None,
                        query="users aggregates query",
                    ),
                    status_ms=_status_ms(item.get("metrics"), group.get("routingStatus")),
                )
            )
    return rows


def _status_ms(metrics: Any, grouped_status: Any) -> dict[str, float]:
    found: dict[str, float] = {}
    for metric in metrics if isinstance(metrics, list) else ():
        if not isinstance(metric, dict) or metric.get("metric") != ROUTING_STATUS:
            continue
        status = metric.get("qualifier") or grouped_status
        total = (metric.get("stats") or {}).get("sum")
        if isinstance(status, str) and isinstance(total, int | float):
            found[status] = found.get(status, 0) + total
    return found
