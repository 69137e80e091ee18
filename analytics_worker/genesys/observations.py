"""The Genesys Cloud queue observations query: POST /api/v2/analytics/queues/observations/query
answers what each queue holds right now (conversations waiting, alerting, interacting; its
members by routing status) and, with detailMetrics, the conversations behind the waiting count.

This module knows Genesys's shapes only; which queues to watch, how often, and where the answer
is kept is analytics_worker.live's.

One request covers at most MAX_QUEUES queues; Genesys also rejects more than about 200
predicates per query, and each queue is one predicate here, so chunks of 100 keep well inside
both (docs/../shared reference "queue observations").
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from analytics_worker.genesys.errors import GenesysProtocolError
from analytics_worker.genesys.http import FetchProgress, genesys_request

OBSERVATIONS_PATH = "/api/v2/analytics/queues/observations/query"
MAX_QUEUES = 100
METRICS = ("oWaiting", "oInteracting", "oAlerting", "oOnQueueUsers", "oUserRoutingStatuses")
# Members of a queue by routing status (oUserRoutingStatuses qualifiers). COMMUNICATING (an agent
# on a non-ACD call) is busy, as INTERACTING is.
ROUTING_STATUSES = ("IDLE", "INTERACTING", "COMMUNICATING", "NOT_RESPONDING", "OFF_QUEUE")


@dataclass(frozen=True)
class QueueObservation:
    """One queue right now."""

    queue_id: str
    waiting: int
    interacting: int
    alerting: int
    # The oldest waiting conversation's entry into the queue (aware UTC), None when none waits
    # or Genesys listed none.
    oldest_waiting_since: datetime | None
    # Members by routing status: IDLE, INTERACTING, COMMUNICATING, NOT_RESPONDING, OFF_QUEUE.
    users_by_status: dict[str, int] = field(default_factory=dict)


def queue_chunks(queue_ids: Sequence[str]) -> Iterator[tuple[str, ...]]:
    """The queue ids in request-sized chunks, each id once, in the order given."""
    unique = tuple(dict.fromkeys(queue_ids))
    for start in range(0, len(unique), MAX_QUEUES):
        yield unique[start : start + MAX_QUEUES]


def queue_observations_query(
    *, queue_ids: Sequence[str], progress: FetchProgress | None = None
) -> dict[str, QueueObservation]:
    """Every queue's observation, queue id -> QueueObservation: one request per MAX_QUEUES
    queues. A queue Genesys answered nothing for is all zeros."""
    found: dict[str, QueueObservation] = {}
    for chunk in queue_chunks(queue_ids):
        body = genesys_request(
            "POST", OBSERVATIONS_PATH, json=queue_observations_body(chunk), progress=progress
        )
        parsed = queue_observations_parse(body)
        for queue_id in chunk:
            found[queue_id] = parsed.get(queue_id) or QueueObservation(queue_id, 0, 0, 0, None)
    return found


def queue_observations_body(queue_ids: Sequence[str]) -> dict[str, Any]:
    if not 0 < len(queue_ids) <= MAX_QUEUES:
        raise ValueError(f"one observations query covers 1 to {MAX_QUEUES} queues")
    return {
        "filter": {
            "type": "or",
            "predicates": [
                {"type": "dimension", "dimension": "queueId", "value": queue_id}
                for queue_id in queue_ids
            ],
        },
        "metrics": list(METRICS),
        "detailMetrics": ["oWaiting"],
    }


def queue_observations_parse(body: Any) -> dict[str, QueueObservation]:
    """The per-queue groups of an answer. Genesys also answers groups per queue and media type;
    they are parts of the queue's own group, so only a queue without one is summed from them."""
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list):
        raise GenesysProtocolError(
            "The queue observations query answered without a results list: check that "
            "GENESYS_API_URL points at Genesys Cloud"
        )
    whole: dict[str, list[Any]] = {}
    parts: dict[str, list[Any]] = {}
    for result in results:
        group = result.get("group") if isinstance(result, dict) else None
        data = result.get("data") if isinstance(result, dict) else None
        if not isinstance(group, dict) or not isinstance(group.get("queueId"), str):
            continue
        if not isinstance(data, list):
            raise GenesysProtocolError("The queue observations query answered a group without data")
        target = whole if set(group) == {"queueId"} else parts
        target.setdefault(group["queueId"], []).extend(data)
    return {
        queue_id: _observation(queue_id, whole.get(queue_id) or parts.get(queue_id) or [])
        for queue_id in {*whole, *parts}
    }


def _observation(queue_id: str, data: list[Any]) -> QueueObservation:
    counts: dict[str, int] = {}
    users: dict[str, int] = {}
    oldest: datetime | None = None
    for item in data:
        if not isinstance(item, dict):
            continue
        metric, qualifier = item.get("metric"), item.get("qualifier")
        stats = item.get("stats")
        count = stats.get("count") if isinstance(stats, dict) else None
        if not isinstance(count, int) or isinstance(count, bool):
            count = 0
        if metric == "oUserRoutingStatuses" and isinstance(qualifier, str):
            users[qualifier] = users.get(qualifier, 0) + count
        elif metric in ("oWaiting", "oInteracting", "oAlerting") and not qualifier:
            counts[metric] = counts.get(metric, 0) + count
        if metric == "oWaiting":
            for seen in item.get("observations") or ():
                since = _moment(seen.get("observationDate") if isinstance(seen, dict) else None)
                if since is not None and (oldest is None or since < oldest):
                    oldest = since
    return QueueObservation(
        queue_id=queue_id,
        waiting=counts.get("oWaiting", 0),
        interacting=counts.get("oInteracting", 0),
        alerting=counts.get("oAlerting", 0),
        oldest_waiting_since=oldest if counts.get("oWaiting") else None,
        users_by_status=users,
    )


def _moment(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
