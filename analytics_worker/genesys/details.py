"""The Genesys Cloud conversation details source (ConversationQuery in the official SDKs):
POST /api/v2/analytics/conversations/details/query, paged by page number.

Each conversation is reduced to the GraphQL contract's Conversation dict (docs/GRAPHQL.md),
plus what the contract lacks for the contact-centre KPIs:

    queueIds      every queue the conversation went through, in order
    metricStats   each metric's count and sum (milliseconds) over all its sessions, in the shape
                  of an aggregates answer's stats, so both REST sources map to buckets alike

and, as the contract defines them, metrics.duration = end - start (None while it is going on),
metrics.waitTime = time in queue (tWait or tAcd, else tAnswered + tAbandon; None when it never
queued), metrics.holdTime = time on hold (tHeld), None unless an agent connected.

How the paging stays exact (Genesys's developer-center blog, "Analytics conversations API
behavior", 2022-04-21):
- Pages are asked for in conversationStart order until one comes back without `conversations`.
- Pages shift while data arrives, so a conversation may come twice: it is yielded once (by id).
- Genesys searches whole days ("conversations that started on a day touched by the interval"),
  so conversations outside the interval may come too: only those that START inside it are kept
  (a details report counts a conversation in the bucket of its start), and intervals are cut at UTC midnights, at most 7 days long (the
  guide's limit without a filter).
- pageNumber x pageSize may not pass 100,000. Before the page that would, the scan goes on with
  a new interval starting at the latest conversation start served so far.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from analytics_worker.genesys.errors import GenesysProtocolError
from analytics_worker.genesys.http import FetchProgress, genesys_request
from analytics_worker.genesys.query import (
    ConversationFilters,
    interval_text,
    iso_utc_ms,
    query_filter,
)

DETAILS_PATH = "/api/v2/analytics/conversations/details/query"
# The largest page every source agrees Genesys accepts (Splunk: 100; a Genesys blog: 200).
PAGE_SIZE = 100
PAGINATION_CAP = 100_000
MAX_INTERVAL = timedelta(days=7)


def details_conversation_pages(
    *,
    start: datetime,
    end: datetime,
    filters: ConversationFilters,
    progress: FetchProgress | None = None,
    page_size: int = PAGE_SIZE,
) -> Iterator[list[dict[str, Any]]]:
    """Yield each page's conversations that start in [start, end) as records (see the module
    docstring), each conversation once, in start order. Raises a GenesysError when Genesys
    refuses, or when the 100,000-result cap cannot be paged past (that many conversations in one
    millisecond, or a Genesys that answers whole days however the interval is cut)."""
    if not 1 <= page_size <= PAGINATION_CAP:
        raise ValueError(f"page_size must be 1 to {PAGINATION_CAP}, not {page_size}")
    last_page = PAGINATION_CAP // page_size
    for chunk_start, chunk_end in _chunks(start, end):
        # id -> start of what this scan served. One scan serves at most 100,000 conversations,
        # and scans of different chunks never share one, so memory stays bounded.
        served: dict[str, datetime] = {}
        scan_start, page_number, latest = chunk_start, 1, chunk_start
        while True:
            body = genesys_request(
                "POST",
                DETAILS_PATH,
                json=details_query_body(
                    filters=filters,
                    start=scan_start,
                    end=chunk_end,
                    page_number=page_number,
                    page_size=page_size,
                ),
                progress=progress,
            )
            conversations = _page_conversations(body)
            if not conversations:
                break
            records = []
            for conversation in conversations:
                record = details_record(conversation)
                started = _parse_time(record["startTime"], "conversationStart")
                if not scan_start <= started < chunk_end or record["id"] in served:
                    continue
                served[record["id"]] = started
                latest = max(latest, started)
                records.append(record)
            yield records
            if page_number < last_page:
                page_number += 1
                continue
            # The next page would pass the cap. Conversations come in start order, so all that
            # start before `latest` have been served; those AT `latest` stay in `served`.
            if latest <= scan_start:
                raise GenesysProtocolError(
                    f"Genesys's details query cannot page past {PAGINATION_CAP:,} results, and "
                    f"starting a new interval at {iso_utc_ms(scan_start)} did not get past them "
                    "(Genesys searches whole days): narrow the filters, or use the aggregates "
                    "source"
                )
            served = {cid: at for cid, at in served.items() if at >= latest}
            scan_start, page_number = latest, 1


def details_query_body(
    *,
    start: datetime,
    end: datetime,
    filters: ConversationFilters,
    page_number: int,
    page_size: int,
) -> dict[str, Any]:
    """The ConversationQuery for one page. Direction is a conversation dimension
    (originatingDirection); media type and queue are segment dimensions."""
    body: dict[str, Any] = {
        "interval": interval_text(start, end),
        "order": "asc",
        "orderBy": "conversationStart",
        "paging": {"pageSize": page_size, "pageNumber": page_number},
    }
    selections = filters.selections()
    conversation_filter = query_filter(
        (d.analytics, values) for d, values in selections if d.details_level == "conversation"
    )
    segment_filter = query_filter(
        ((d.analytics, values) for d, values in selections if d.details_level == "segment"),
        required=[d.analytics for d in filters.required() if d.details_level == "segment"],
    )
    if conversation_filter:
        body["conversationFilters"] = [conversation_filter]
    if segment_filter:
        body["segmentFilters"] = [segment_filter]
    return body


def details_record(conversation: Any) -> dict[str, Any]:
    """An AnalyticsConversation reduced to the GraphQL Conversation shape, plus its metric
    totals and queues (module docstring)."""
    if not isinstance(conversation, dict) or not isinstance(
        conversation.get("conversationId"), str
    ):
        raise GenesysProtocolError("The details query answered a conversation without an id")
    start_text, end_text = (
        conversation.get("conversationStart"),
        conversation.get("conversationEnd"),
    )
    start = _parse_time(start_text, "conversationStart")
    end = _parse_time(end_text, "conversationEnd") if end_text else None

    # name -> {count, sum} over every session: a transfer offers and answers it twice.
    stats: dict[str, dict[str, float]] = {}
    participants = []
    queue_ids: list[str] = []
    media_type = None
    for participant in _dicts(conversation.get("participants")):
        purpose = participant.get("purpose")
        if purpose in _PARTICIPANT_TYPES:
            participants.append(
                {
                    "id": participant.get("userId") or participant.get("participantId"),
                    "type": _PARTICIPANT_TYPES[purpose],
                }
            )
        for session in _dicts(participant.get("sessions")):
            media_type = media_type or session.get("mediaType")
            for metric in _dicts(session.get("metrics")):
                name, value = metric.get("name"), metric.get("value")
                if isinstance(name, str) and isinstance(value, int | float):
                    total = stats.setdefault(name, {"count": 0, "sum": 0})
                    total["count"] += 1
                    total["sum"] += value
            for segment in _dicts(session.get("segments")):
                queue_id = segment.get("queueId")
                if isinstance(queue_id, str) and queue_id not in queue_ids:
                    queue_ids.append(queue_id)
    # tTalkComplete is a session's whole talk, emitted once it is over; tTalk may come once per
    # talk segment. tHeld comes once per hold (so its count counts holds), tHeldComplete once
    # per session that held.
    for whole, part in (("tTalkComplete", "tTalk"), ("tHeldComplete", "tHeld")):
        complete = stats.pop(whole, None)
        if complete is not None and part not in stats:
            stats[part] = complete

    def seconds(*names: str) -> float | None:
        found = [stats[name]["sum"] for name in names if name in stats]
        return sum(found) / 1000 if found else None

    # Hold exists (0 or more) once an agent is connected: answered from a queue, or talking on
    # a direct or outbound call.
    connected = "tAnswered" in stats or "tTalk" in stats
    # Time in queue: tWait, or tAcd, which the details query carries for every offer whatever
    # its outcome (answered, abandoned, flowed out).
    wait_metrics = next((name for name in ("tWait", "tAcd") if name in stats), None)
    wait = seconds(wait_metrics) if wait_metrics else seconds("tAnswered", "tAbandon")
    return {
        "id": conversation["conversationId"],
        "type": media_type,
        "direction": conversation.get("originatingDirection"),
        "startTime": start_text,
        "endTime": end_text,
        "metrics": {
            "duration": (end - start).total_seconds() if end is not None else None,
            "waitTime": wait,
            "holdTime": (seconds("tHeld") or 0.0) if connected else None,
        },
        "participants": participants,
        "queueIds": queue_ids,
        "metricStats": stats,
    }


# Genesys participant purpose -> the contract's participant type; the others (acd, ivr, ...) are
# routing machinery, not people, and the contract has no place for them.
# "user" is the Genesys user who placed an internal call: the agent's caller, as a customer is.
_PARTICIPANT_TYPES = {
    "customer": "customer",
    "external": "customer",
    "user": "customer",
    "agent": "agent",
}


def _dicts(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _page_conversations(body: Any) -> list[Any]:
    if not isinstance(body, dict):
        raise GenesysProtocolError(
            "The details query answered with something other than a JSON object: check that "
            "GENESYS_API_URL points at Genesys Cloud"
        )
    conversations = body.get("conversations") or []
    if not isinstance(conversations, list):
        raise GenesysProtocolError("The details query answered `conversations` that is not a list")
    return conversations


def _chunks(start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    """[start, end) cut at UTC midnights into intervals of at most 7 days: Genesys searches the
    days an interval touches, so an interval that ended mid-day would make the next one search
    that day again."""
    while start < end:
        midnight = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        chunk_end = min(end, midnight + MAX_INTERVAL)
        yield start, chunk_end
        start = chunk_end


def _parse_time(value: Any, field: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        moment = None
    if moment is None or moment.tzinfo is None:
        raise GenesysProtocolError(
            f"The details query answered a {field} that is not an ISO 8601 time: {value!r:.40}"
        )
    return moment
