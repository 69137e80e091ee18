"""POST /api/v2/analytics/queues/observations/query: what each queue holds right now, computed
from the same conversations as the details and aggregates queries (org.iter_conversations).

At a moment t, for a queue q (only its offered legs, org.Leg):

- waiting: a leg of q that has entered the queue and is neither answered nor gone:
  enter_ms <= t < leave_ms, less the last ALERT_MS of an answered leg's wait (then its agent's
  phone rings: alerting, not waiting). Abandoned and flowed-out legs wait until they leave.
- alerting: an answered leg of q in those last ALERT_MS (or its whole wait, if shorter).
- interacting: a leg of q (offered, or an outbound call made for q) whose agent is connected:
  leave_ms <= t < disconnect_ms. After-call work is not a conversation in the queue any more.
- the queue's members (Queue.agent_ids) by routing status, each agent once whatever queue its
  work came from: INTERACTING from the moment it is alerted until its wrap-up ends (Genesys keeps
  an agent in INTERACTING through after-call work); otherwise OFF_QUEUE outside its shift
  (agent_on_shift), NOT_RESPONDING for an on-shift agent in an unlucky minute
  (agent_not_responding), IDLE else.
- detailMetrics ["oWaiting"]: the waiting conversations, oldest first; past DETAIL_LIST_MAX the
  list keeps the oldest half and the newest half and says `truncated: true`, as Genesys does.

Answers one group per queue and one per queue and media type (conversation metrics only, as
Genesys adds mediaType by itself). The limits the real API is known to have (100 queues, about
200 predicates per query) answer HTTP 400 naming them.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from genesys_sim import org
from genesys_sim.decorators import api_endpoint, json_response
from genesys_sim.rest_api import QueryError, _bad_request, _json_body

MAX_QUEUES = 100
MAX_PREDICATES = 200
# An answered leg rings its agent for the last ALERT_MS of its wait.
ALERT_MS = 5_000
DETAIL_LIST_MAX = 20
CONVERSATION_METRICS = ("oWaiting", "oInteracting", "oAlerting")
USER_METRICS = ("oOnQueueUsers", "oUserRoutingStatuses")
METRICS = CONVERSATION_METRICS + USER_METRICS
ROUTING_STATUSES = ("IDLE", "INTERACTING", "NOT_RESPONDING", "OFF_QUEUE")
# Shifts: agent n works SHIFT_HOURS from UTC hour (n * SHIFT_STAGGER) % 24, so about half the
# roster is on queue at any hour, night included.
SHIFT_HOURS = 12
SHIFT_STAGGER = 5
NOT_RESPONDING_ONE_IN = 12
# No conversation of the org lives longer than this (org.Kind.lifetime_ms): the scan for what
# is live at t starts this long before t.
LONGEST_LIFE_MS = max(kind.lifetime_ms for kind in org.KINDS)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def now_ms() -> int:
    return int(time.time() * 1000)


def alert_window_ms(leg: org.Leg) -> int:
    """How long before it leaves the queue an answered leg rings its agent (0 otherwise)."""
    return min(ALERT_MS, leg.wait_ms) if leg.outcome == "answered" else 0


def agent_on_shift(agent_number: int, *, at_ms: int) -> bool:
    hour = at_ms // 3_600_000 % 24
    return (hour - agent_number * SHIFT_STAGGER) % 24 < SHIFT_HOURS


def agent_not_responding(agent_id: str, *, at_ms: int) -> bool:
    # Deterministic per agent and minute, like everything else in the org.
    digest = hashlib.blake2b(f"{agent_id}:{at_ms // 60_000}".encode(), digest_size=4).digest()
    return int.from_bytes(digest) % NOT_RESPONDING_ONE_IN == 0


@dataclass
class QueueNow:
    waiting: list[tuple[org.Conversation, org.Leg]] = field(default_factory=list)
    alerting: list[org.Leg] = field(default_factory=list)
    interacting: list[org.Leg] = field(default_factory=list)


@dataclass(frozen=True)
class OrgNow:
    queues: Mapping[str, QueueNow]
    agent_status: Mapping[str, str]


def org_at(at_ms: int) -> OrgNow:
    """Every queue's live conversations and every agent's routing status at `at_ms`."""
    # Keyed by the settings the conversations come from too: tests change them.
    return _org_at(at_ms, settings.GENESYS_SIM_SEED, settings.GENESYS_SIM_CONVERSATIONS_PER_DAY)


@lru_cache(maxsize=4)
def _org_at(at_ms: int, seed: int, per_day: int) -> OrgNow:
    queues = {q.id: QueueNow() for q in org.QUEUES}
    busy: set[str] = set()
    for conversation in org.iter_conversations(
        start=_EPOCH + timedelta(milliseconds=at_ms - LONGEST_LIFE_MS),
        end=_EPOCH + timedelta(milliseconds=at_ms + 1),
    ):
        for leg in conversation.legs:
            ring = alert_window_ms(leg)
            if leg.user_id is not None and leg.leave_ms - ring <= at_ms < leg.wrapup_end_ms:
                busy.add(leg.user_id)
            if leg.queue_id is None:
                continue
            now = queues[leg.queue_id]
            if leg.offered and leg.enter_ms <= at_ms < leg.leave_ms - ring:
                now.waiting.append((conversation, leg))
            elif leg.offered and leg.leave_ms - ring <= at_ms < leg.leave_ms:
                now.alerting.append(leg)
            elif leg.user_id is not None and leg.leave_ms <= at_ms < leg.disconnect_ms:
                now.interacting.append(leg)
    status = {}
    for number, agent in enumerate(org.AGENTS, start=1):
        if agent.id in busy:
            status[agent.id] = "INTERACTING"
        elif not agent_on_shift(number, at_ms=at_ms):
            status[agent.id] = "OFF_QUEUE"
        elif agent_not_responding(agent.id, at_ms=at_ms):
            status[agent.id] = "NOT_RESPONDING"
        else:
            status[agent.id] = "IDLE"
    for now in queues.values():
        now.waiting.sort(key=lambda item: item[1].enter_ms)
    return OrgNow(queues=queues, agent_status=status)


@dataclass(frozen=True)
class ObservationQuery:
    queue_ids: tuple[str, ...]
    metrics: tuple[str, ...]
    detail_metrics: tuple[str, ...]


def observation_query_read(body: Mapping[str, Any]) -> ObservationQuery:
    query_filter = body.get("filter")
    if not isinstance(query_filter, dict) or query_filter.get("type") not in ("or", "and"):
        raise QueryError(
            'Invalid {field}: give {{"type": "or", "predicates": [...]}}', field="filter"
        )
    if query_filter.get("clauses"):
        raise QueryError(
            "The simulated org does not filter observations by {field}", field="clauses"
        )
    predicates = query_filter.get("predicates")
    if not isinstance(predicates, list) or not predicates:
        raise QueryError(
            "Invalid {field}: at least one queueId predicate", field="filter.predicates"
        )
    if len(predicates) > MAX_PREDICATES:
        raise QueryError(
            "Invalid {field}: at most {limit} predicates per query, not {count}",
            field="filter.predicates",
            limit=MAX_PREDICATES,
            count=len(predicates),
        )
    queue_ids = []
    for predicate in predicates:
        if not isinstance(predicate, dict) or predicate.get("dimension") != "queueId":
            raise QueryError(
                "The simulated org filters observations by {field} only", field="queueId"
            )
        if not isinstance(predicate.get("value"), str):
            raise QueryError("Invalid {field}: a queue id", field="filter.predicates.value")
        queue_ids.append(predicate["value"])
    if len(set(queue_ids)) > MAX_QUEUES:
        raise QueryError(
            "Invalid {field}: at most {limit} queues per query, not {count}",
            field="filter",
            limit=MAX_QUEUES,
            count=len(set(queue_ids)),
        )
    metrics = _names(body.get("metrics"), field="metrics", allowed=METRICS, required=True)
    details = _names(
        body.get("detailMetrics"), field="detailMetrics", allowed=("oWaiting",), required=False
    )
    return ObservationQuery(tuple(dict.fromkeys(queue_ids)), metrics, details)


def _names(raw: Any, *, field: str, allowed: Iterable[str], required: bool) -> tuple[str, ...]:
    if raw is None and not required:
        return ()
    if not isinstance(raw, list) or (required and not raw):
        raise QueryError("Invalid {field}: a list of metric names", field=field)
    allowed = tuple(allowed)
    for name in raw:
        if name not in allowed:
            raise QueryError(
                "Invalid {field}: {name} is not simulated (use {allowed})",
                field=field,
                name=name,
                allowed=", ".join(allowed),
            )
    return tuple(dict.fromkeys(raw))


def _iso(ms: int) -> str:
    return (
        (_EPOCH + timedelta(milliseconds=ms))
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _waiting_observations(
    waiting: list[tuple[org.Conversation, org.Leg]],
) -> tuple[list[dict[str, Any]], bool]:
    entries = [
        {
            "observationDate": _iso(leg.enter_ms),
            "conversationId": conversation.id,
            "sessionId": f"{conversation.id[:-4]}{number:04x}",
            "routingPriority": 0,
            "direction": "inbound",
            "mediaType": leg.media_type,
        }
        for number, (conversation, leg) in enumerate(waiting)
    ]
    if len(entries) <= DETAIL_LIST_MAX:
        return entries, False
    half = DETAIL_LIST_MAX // 2
    return entries[:half] + entries[-half:], True


def observation_results(query: ObservationQuery, *, at_ms: int) -> list[dict[str, Any]]:
    now = org_at(at_ms)
    results = []
    for queue_id in query.queue_ids:
        queue = now.queues.get(queue_id, QueueNow())
        counts = {
            "oWaiting": [leg for _, leg in queue.waiting],
            "oInteracting": queue.interacting,
            "oAlerting": queue.alerting,
        }
        data: list[dict[str, Any]] = []
        for metric in query.metrics:
            if metric in CONVERSATION_METRICS:
                entry: dict[str, Any] = {"metric": metric, "stats": {"count": len(counts[metric])}}
                if metric in query.detail_metrics and queue.waiting:
                    entry["observations"], truncated = _waiting_observations(queue.waiting)
                    if truncated:
                        entry["truncated"] = True
                data.append(entry)
                continue
            members = org.QUEUES_BY_ID[queue_id].agent_ids if queue_id in org.QUEUES_BY_ID else ()
            statuses = [now.agent_status[agent] for agent in members]
            for qualifier in ROUTING_STATUSES:
                if metric == "oOnQueueUsers" and qualifier == "OFF_QUEUE":
                    continue  # off queue is not on queue
                data.append(
                    {
                        "metric": metric,
                        "qualifier": qualifier,
                        "stats": {"count": statuses.count(qualifier)},
                    }
                )
        results.append({"group": {"queueId": queue_id}, "data": data})
        for media_type in org.QUEUE_MEDIA_TYPES:
            media_data: list[dict[str, Any]] = [
                {
                    "metric": metric,
                    "stats": {
                        "count": sum(1 for leg in counts[metric] if leg.media_type == media_type)
                    },
                }
                for metric in query.metrics
                if metric in CONVERSATION_METRICS
            ]
            if any(item["stats"]["count"] for item in media_data):
                results.append(
                    {"group": {"queueId": queue_id, "mediaType": media_type}, "data": media_data}
                )
    return results


@csrf_exempt
@require_POST
@api_endpoint
def queue_observations_query(request: HttpRequest) -> HttpResponse:
    try:
        query = observation_query_read(_json_body(request))
    except QueryError as error:
        return _bad_request(request, error)
    return json_response({"results": observation_results(query, at_ms=now_ms())})
