"""POST /api/v2/analytics/users/aggregates/query on the simulated org: each agent's time in
routing status (tAgentRoutingStatus, one entry per status as its qualifier), per bucket.

The simulated contact centre runs around the clock: every agent is on queue all the time, and
INTERACTING from the moment a conversation reaches them (alerted, or dialling) until its wrap-up
ends (overlapping conversations, e.g. chats, count once); IDLE the rest. Consistent with the
details view: the same org.Leg timelines the conversation metrics are emitted from.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from genesys_sim import org
from genesys_sim.decorators import api_endpoint, json_response
from genesys_sim.rest_api import (
    QueryError,
    _bad_request,
    _emitting_conversations,
    _interval,
    _iso,
    _json_body,
    _now_ms,
    bucket_edges,
)

METRIC = "tAgentRoutingStatus"
# The routing statuses the simulated org's agents are ever in.
STATUSES = ("IDLE", "INTERACTING")


def _user_ids(raw: Any) -> set[str] | None:
    """The userIds a filter of userId predicates (ORed, or one) names; None: no filter."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise QueryError("Invalid {field}: not an object", field="filter")
    found: set[str] = set()
    for predicate in [
        raw,
        *raw.get("predicates", []),
        *(p for clause in raw.get("clauses", []) for p in clause.get("predicates", [])),
    ]:
        if predicate.get("dimension") == "userId" and isinstance(predicate.get("value"), str):
            found.add(predicate["value"])
        elif "dimension" in predicate and predicate.get("dimension") != "userId":
            raise QueryError(
                "Invalid {field}: the simulated org filters users by userId only", field="filter"
            )
    return found


def _busy(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """The union of [start, end) intervals, sorted."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def users_status_results(
    *, start_ms: int, end_ms: int, edges: list[int], user_ids: set[str] | None, now_ms: int
) -> list[dict[str, Any]]:
    until = min(end_ms, now_ms)
    agents = [a.id for a in org.AGENTS if user_ids is None or a.id in user_ids]
    wanted = set(agents)
    legs: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for conversation in _emitting_conversations(start_ms=start_ms, end_ms=until):
        for leg in conversation.legs:
            if leg.user_id in wanted and leg.leave_ms < until and leg.wrapup_end_ms > start_ms:
                legs[leg.user_id].append((leg.leave_ms, leg.wrapup_end_ms))
    results = []
    for agent_id in agents:
        busy = _busy(legs[agent_id])
        data = []
        for index in range(len(edges) - 1):
            low, high = edges[index], min(edges[index + 1], until)
            if high <= low:
                break
            interacting = sum(max(0, min(e, high) - max(s, low)) for s, e in busy)
            seconds = {"INTERACTING": interacting, "IDLE": (high - low) - interacting}
            data.append(
                {
                    "interval": f"{_iso(edges[index])}/{_iso(edges[index + 1])}",
                    "metrics": [
                        {"metric": METRIC, "qualifier": status, "stats": {"sum": seconds[status]}}
                        for status in STATUSES
                        if seconds[status]
                    ],
                }
            )
        if data:
            results.append({"group": {"userId": agent_id}, "data": data})
    return results


def _read(body: Mapping[str, Any]) -> tuple[int, int, list[int], set[str] | None]:
    start_ms, end_ms = _interval(body)
    metrics = body.get("metrics")
    if not isinstance(metrics, list) or METRIC not in metrics:
        raise QueryError("{field} must list {metric}", field="metrics", metric=METRIC)
    try:
        tz = ZoneInfo(body.get("timeZone") or "UTC")
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise QueryError("Invalid {field}", field="timeZone") from None
    edges = bucket_edges(
        start_ms=start_ms, end_ms=end_ms, granularity=body.get("granularity"), tz=tz
    )
    user_ids = _user_ids(body.get("filter"))
    if user_ids is not None and len(user_ids) > 100:
        raise QueryError("Invalid {field}: at most 100 users in one query", field="filter")
    return start_ms, end_ms, edges, user_ids


@csrf_exempt
@require_POST
@api_endpoint
def users_aggregates_query(request: HttpRequest) -> HttpResponse:
    try:
        start_ms, end_ms, edges, user_ids = _read(_json_body(request))
    except QueryError as error:
        return _bad_request(request, error)
    results = users_status_results(
        start_ms=start_ms, end_ms=end_ms, edges=edges, user_ids=user_ids, now_ms=_now_ms()
    )
    return json_response({"results": results})
