"""The Genesys Cloud REST surface of the simulated org (the details and aggregates queries of the official SDKs' AnalyticsApi): the conversation
details and aggregates queries and the routing queues list, over the same conversations as the
GraphQL contract.

Every view goes through `api_endpoint` (token, rate limit, faults, correlation id), like the
GraphQL endpoint. A request the real API would refuse is HTTP 400 with a Genesys ErrorBody whose
message names the field at fault; so is a feature the simulator does not have (a dimension it
cannot filter on, `order: desc`), so a client never mistakes "not simulated" for "no data".

All three follow the attribution rule of org.py: a conversation belongs to the interval (and the
aggregate bucket) that contains its start, so the details, the aggregates' nOffered and the
GraphQL contract count the same conversations. Real Genesys differs here; see README.md.
"""

from __future__ import annotations

import math
import re
import time
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from genesys_sim import org
from genesys_sim.decorators import api_endpoint, error_response, json_response

# Details paging: the SDK's default page size; the largest page Genesys is known
# to accept is 100 (Splunk) or 200 (a Genesys blog), so the simulator takes the stricter one.
DETAILS_DEFAULT_PAGE_SIZE = 25
DETAILS_MAX_PAGE_SIZE = 100
# pageNumber x pageSize may not pass this (the real message is quoted in PAGINATION_MESSAGE).
PAGINATION_CAP = 100_000
PAGINATION_MESSAGE = "Pagination may not exceed 100000 results."
# Genesys's detail-query guide: at most 7 days without a filter, 31 days with one.
DETAILS_MAX_DAYS = 7
DETAILS_MAX_DAYS_FILTERED = 31

QUEUES_DEFAULT_PAGE_SIZE = 25
QUEUES_MAX_PAGE_SIZE = 500

# The service-level threshold per media type (seconds to answer), and the goal oServiceLevel
# reports as its target. An answered conversation that waited longer emits nOverSla.
SERVICE_LEVEL_SECONDS = {"voice": 20, "chat": 60, "message": 300, "email": 7200}
SERVICE_LEVEL_TARGET = 0.8

# Dimensions the simulator can filter or group on -> the attribute of org.Kind (and of
# org.Conversation) they read. Conversations differ only by kind, so these are all there is.
CONVERSATION_DIMENSIONS = {"originatingDirection": "direction"}
SEGMENT_DIMENSIONS = {"mediaType": "media_type", "queueId": "queue_id", "direction": "direction"}
AGGREGATE_DIMENSIONS = {**CONVERSATION_DIMENSIONS, **SEGMENT_DIMENSIONS}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class QueryError(Exception):
    """A query the simulated org refuses with HTTP 400. `template` uses {name} placeholders
    filled from `params`: Genesys sends both the message and messageWithParams/messageParams."""

    def __init__(self, template: str, **params: Any) -> None:
        self.template = template
        self.params = {name: str(value) for name, value in params.items()}
        super().__init__(template.format(**self.params))


def _bad_request(request: HttpRequest, error: QueryError) -> HttpResponse:
    response = error_response(request, status=400, code="bad.request", message=str(error))
    body = orjson.loads(response.content)
    if error.params:
        body |= {"messageWithParams": error.template, "messageParams": error.params}
    response.content = orjson.dumps(body)
    return response


def _iso(ms: int) -> str:
    moment = _EPOCH + timedelta(milliseconds=ms)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        body = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        raise QueryError("The request body must be a JSON object.")
    return body


def _interval(body: Mapping[str, Any]) -> tuple[int, int]:
    """`interval` ("start/end", ISO-8601 with offsets) as epoch milliseconds."""
    raw = body.get("interval")
    if not isinstance(raw, str) or raw.count("/") != 1:
        raise QueryError(
            "{field} is required, as start/end in ISO-8601 "
            "(e.g. 2024-05-01T00:00:00.000Z/2024-05-02T00:00:00.000Z)",
            field="interval",
        )
    moments = []
    for part in raw.split("/"):
        try:
            moment = datetime.fromisoformat(part)
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise QueryError(
                "Invalid {field}: {value} is not an ISO-8601 date-time with an offset",
                field="interval",
                value=part,
            )
        moments.append(org.to_ms(moment))
    if moments[1] <= moments[0]:
        raise QueryError("Invalid {field}: the end is not after the start", field="interval")
    return moments[0], moments[1]


# --- Filters (the same shape for details and aggregates) -----------------------------------------

KindTest = Callable[[org.Kind], bool]


def _filter_test(
    raw: Any, *, field: str, dimensions: Mapping[str, str], clauses_allowed: bool = True
) -> KindTest:
    """A filter `{type, predicates, clauses}` (a clause is the same without clauses) as a test
    on a conversation's kind."""
    if not isinstance(raw, dict):
        raise QueryError("{field} must be an object", field=field)
    combine = {"and": all, "or": any}.get(raw.get("type"))  # type: ignore[arg-type]
    if combine is None:
        raise QueryError("{field}.type is required: and or or", field=field)
    predicates, clauses = raw.get("predicates") or [], raw.get("clauses") or []
    if not isinstance(predicates, list) or not isinstance(clauses, list):
        raise QueryError("{field}: predicates and clauses must be lists", field=field)
    if clauses and not clauses_allowed:
        raise QueryError("{field}: a clause cannot hold clauses", field=field)
    tests = [
        _predicate_test(p, field=f"{field}.predicates[{i}]", dimensions=dimensions)
        for i, p in enumerate(predicates)
    ]
    tests += [
        _filter_test(c, field=f"{field}.clauses[{i}]", dimensions=dimensions, clauses_allowed=False)
        for i, c in enumerate(clauses)
    ]
    if not tests:
        raise QueryError("{field} needs predicates or clauses", field=field)
    return lambda kind: combine(test(kind) for test in tests)


def _predicate_test(raw: Any, *, field: str, dimensions: Mapping[str, str]) -> KindTest:
    if not isinstance(raw, dict):
        raise QueryError("{field} must be an object", field=field)
    if raw.get("type", "dimension") != "dimension":
        raise QueryError(
            "{field}.type {value}: the simulated org filters on dimensions only",
            field=field,
            value=raw.get("type"),
        )
    dimension = raw.get("dimension")
    attribute = dimensions.get(dimension) if isinstance(dimension, str) else None
    if attribute is None:
        raise QueryError(
            "{field}.dimension {value}: the simulated org can filter here on {known}",
            field=field,
            value=dimension,
            known=", ".join(dimensions),
        )
    operator = raw.get("operator", "matches")
    if operator == "exists":
        return lambda kind: True  # every conversation has a media type, a queue and a direction
    if operator == "notExists":
        return lambda kind: False
    if operator != "matches":
        raise QueryError(
            "{field}.operator {value}: use matches, exists or notExists",
            field=field,
            value=operator,
        )
    value = raw.get("value")
    if not isinstance(value, str):
        raise QueryError("{field}.value is required for operator matches", field=field)
    return lambda kind: getattr(kind, attribute) == value


def _filters_test(raw: Any, *, field: str, dimensions: Mapping[str, str]) -> list[KindTest]:
    """A list of filters (conversationFilters, segmentFilters): each must hold."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise QueryError("{field} must be a list of filters", field=field)
    return [
        _filter_test(f, field=f"{field}[{i}]", dimensions=dimensions) for i, f in enumerate(raw)
    ]


def _select(tests: list[KindTest]) -> frozenset[int]:
    return org.select_kinds(where=lambda kind: all(test(kind) for test in tests))


# --- POST /api/v2/analytics/conversations/details/query -------------------------------------------


@dataclass(frozen=True)
class DetailsQuery:
    start_ms: int
    end_ms: int
    selected: frozenset[int]
    page_size: int
    page_number: int


def details_query_read(body: Mapping[str, Any]) -> DetailsQuery:
    start_ms, end_ms = _interval(body)
    order = body.get("order", "asc")
    if order not in ("asc", "desc", "unordered"):
        raise QueryError(
            "Invalid {field}: {value} (asc, desc or unordered)", field="order", value=order
        )
    if order == "desc":
        raise QueryError("{field} desc: the simulated org serves asc only", field="order")
    order_by = body.get("orderBy", "conversationStart")
    if order_by != "conversationStart":
        raise QueryError(
            "{field} {value}: the simulated org orders by conversationStart only",
            field="orderBy",
            value=order_by,
        )

    page_size, page_number = _paging(body.get("paging"))
    if page_size > DETAILS_MAX_PAGE_SIZE:
        raise QueryError(
            "Invalid {field}: {value} is more than the maximum of {maximum}",
            field="paging.pageSize",
            value=page_size,
            maximum=DETAILS_MAX_PAGE_SIZE,
        )
    if page_size * page_number > PAGINATION_CAP:
        raise QueryError(PAGINATION_MESSAGE)

    for unsupported in ("evaluationFilters", "surveyFilters", "resolutionFilters", "aggregations"):
        if body.get(unsupported):
            raise QueryError("{field}: not supported by the simulated org", field=unsupported)
    tests = _filters_test(
        body.get("conversationFilters"),
        field="conversationFilters",
        dimensions=CONVERSATION_DIMENSIONS,
    ) + _filters_test(
        body.get("segmentFilters"), field="segmentFilters", dimensions=SEGMENT_DIMENSIONS
    )
    max_days = DETAILS_MAX_DAYS_FILTERED if tests else DETAILS_MAX_DAYS
    if end_ms - start_ms > max_days * 86_400_000:
        raise QueryError(
            "Invalid {field}: at most {days} days {case}",
            field="interval",
            days=max_days,
            case="with a filter" if tests else "without a filter",
        )
    return DetailsQuery(start_ms, end_ms, _select(tests), page_size, page_number)


def _paging(paging: Any) -> tuple[int, int]:
    """(pageSize, pageNumber): both are required when `paging` is given."""
    if paging is None:
        return DETAILS_DEFAULT_PAGE_SIZE, 1
    if not isinstance(paging, dict):
        raise QueryError("{field} must be an object", field="paging")
    numbers = []
    for name in ("pageSize", "pageNumber"):
        value = paging.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise QueryError(
                "{field} is required with paging, a whole number of at least 1",
                field=f"paging.{name}",
            )
        numbers.append(value)
    return numbers[0], numbers[1]


def _position_before(
    *, start_ms: int, end_ms: int, selected: frozenset[int], offset: int
) -> tuple[int, int] | None:
    """Where a page that starts at the `offset`-th conversation (0-based) resumes: the position
    of the one before it. Whole minutes are only counted (no conversation is built), so a deep
    page costs O(minutes), not O(conversations)."""
    if offset == 0:
        return None
    remaining = offset
    minute = start_ms // org.MINUTE_MS
    while minute * org.MINUTE_MS < end_ms:
        low = max(start_ms, minute * org.MINUTE_MS)
        high = min(end_ms, (minute + 1) * org.MINUTE_MS)
        count = org.count_selected(start_ms=low, end_ms=high, selected=selected)
        if count >= remaining:
            found = islice(
                org.iter_selected(start_ms=low, end_ms=high, selected=selected), remaining
            )
            return list(found)[-1].position
        remaining -= count
        minute += 1
    return (minute, 0)  # past the end: the page is empty


def _sub_id(conversation_id: str, tag: str) -> str:
    # Another id of the conversation's family (participants, sessions): org.py marks the
    # conversation with 8 and its customer with 9 at this position.
    return conversation_id[:19] + tag + conversation_id[20:]


def _over_sla(conversation: org.Conversation) -> bool:
    threshold_ms = SERVICE_LEVEL_SECONDS[conversation.media_type] * 1000
    return conversation.answered and conversation.wait_ms > threshold_ms


def detail_conversation(c: org.Conversation) -> dict[str, Any]:
    """One AnalyticsConversation (the SDKs' model): customer, queue (acd) and, when answered, agent.

    Metrics follow the reference example: nOffered, tAcd, tAbandon and nOverSla on the queue's
    session; tAnswered, tTalkComplete, tHeldComplete, tAcw and tHandle on the agent's; all in
    milliseconds. Every conversation, outbound too, passes through its queue (org.py)."""
    answered_at = c.start_ms + c.wait_ms

    def metric(name: str, value: int, at: int) -> dict[str, Any]:
        return {"name": name, "value": value, "emitDate": _iso(at)}

    def segment(start: int, end: int, kind: str, **extra: str) -> dict[str, Any]:
        return {"segmentStart": _iso(start), "segmentEnd": _iso(end), "segmentType": kind, **extra}

    def session(tag: str, metrics: list[dict[str, Any]], segments: list[dict[str, Any]]) -> dict:
        found = {
            "sessionId": _sub_id(c.id, tag),
            "mediaType": c.media_type,
            "direction": c.direction,
        }
        return found | ({"metrics": metrics} if metrics else {}) | {"segments": segments}

    customer_segment = segment(c.start_ms, c.end_ms, "interact", disconnectType="endpoint")
    queue_metrics = [metric("nOffered", 1, c.start_ms), metric("tAcd", c.wait_ms, answered_at)]
    if c.abandoned:
        queue_metrics.append(metric("tAbandon", c.wait_ms, answered_at))
    if _over_sla(c):
        queue_metrics.append(metric("nOverSla", 1, answered_at))
    queue_segment = segment(
        c.start_ms,
        answered_at,
        "interact",
        queueId=c.queue_id,
        disconnectType="transfer" if c.answered else "peer",
    )
    participants: list[dict[str, Any]] = [
        {
            "participantId": c.customer_id,
            "purpose": "customer",
            "sessions": [session("c", [], [customer_segment])],
        },
        {
            "participantId": _sub_id(c.id, "a"),
            "purpose": "acd",
            "participantName": org.QUEUES_BY_ID[c.queue_id].name,
            "sessions": [session("d", queue_metrics, [queue_segment])],
        },
    ]
    if c.answered:
        talk_end = answered_at + c.talk_ms
        wrapup_end = c.end_ms + c.acw_ms
        agent_metrics = [
            metric("tAnswered", c.wait_ms, answered_at),
            metric("tTalkComplete", c.talk_ms, talk_end),
        ]
        segments = [segment(answered_at, talk_end, "interact", queueId=c.queue_id)]
        if c.hold_ms:
            agent_metrics.append(metric("tHeldComplete", c.hold_ms, c.end_ms))
            segments.append(segment(talk_end, c.end_ms, "hold", queueId=c.queue_id))
        segments[-1]["disconnectType"] = "endpoint"
        segments.append(segment(c.end_ms, wrapup_end, "wrapup"))
        agent_metrics += [
            metric("tAcw", c.acw_ms, wrapup_end),
            metric("tHandle", c.talk_ms + c.hold_ms + c.acw_ms, wrapup_end),
        ]
        participants.append(
            {
                "participantId": _sub_id(c.id, "b"),
                "purpose": "agent",
                "userId": c.agent_id,
                "sessions": [session("e", agent_metrics, segments)],
            }
        )
    return {
        "conversationId": c.id,
        "conversationStart": _iso(c.start_ms),
        # Known from the start in the simulator, even while the conversation is still going on.
        "conversationEnd": _iso(c.end_ms),
        "originatingDirection": c.direction,
        "participants": participants,
    }


@csrf_exempt
@require_POST
@api_endpoint
def conversation_details_query(request: HttpRequest) -> HttpResponse:
    try:
        query = details_query_read(_json_body(request))
    except QueryError as error:
        return _bad_request(request, error)
    # Conversations that have not started yet do not exist.
    start_ms, end_ms, selected = query.start_ms, min(query.end_ms, _now_ms()), query.selected
    after = _position_before(
        start_ms=start_ms,
        end_ms=end_ms,
        selected=selected,
        offset=(query.page_number - 1) * query.page_size,
    )
    found = org.iter_selected(start_ms=start_ms, end_ms=end_ms, selected=selected, after=after)
    page = list(islice(found, query.page_size))
    body: dict[str, Any] = {
        "totalHits": org.count_selected(start_ms=start_ms, end_ms=end_ms, selected=selected)
    }
    if page:
        # The field is absent on an empty page: clients page until it is (as the SDK samples do).
        body["conversations"] = [detail_conversation(c) for c in page]
    return json_response(body)


# --- POST /api/v2/analytics/conversations/aggregates/query ----------------------------------------

# What each metric records for a conversation (milliseconds for t*, 1 for n*, 1 or 0 within the
# service level for oServiceLevel), or None when the conversation emits no such metric.
METRICS: dict[str, Callable[[org.Conversation], int | None]] = {
    "nOffered": lambda c: 1,
    "nOverSla": lambda c: 1 if _over_sla(c) else None,
    "oServiceLevel": lambda c: 0 if c.abandoned or _over_sla(c) else 1,
    "tAcd": lambda c: c.wait_ms,
    "tAnswered": lambda c: c.wait_ms if c.answered else None,
    "tAbandon": lambda c: c.wait_ms if c.abandoned else None,
    "tTalk": lambda c: c.talk_ms if c.answered else None,
    "tHeld": lambda c: c.hold_ms if c.hold_ms else None,
    "tAcw": lambda c: c.acw_ms if c.answered else None,
    "tHandle": lambda c: c.talk_ms + c.hold_ms + c.acw_ms if c.answered else None,
}

_GRANULARITY = re.compile(
    r"^P(?:(?P<weeks>\d+)W|(?P<days>\d+)D|T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?)$"
)


class _Stats:
    __slots__ = ("count", "sum", "min", "max")

    def __init__(self) -> None:
        self.count, self.sum, self.min, self.max = 0, 0, math.inf, -math.inf

    def add(self, value: int) -> None:
        self.count += 1
        self.sum += value
        self.min = min(self.min, value)
        self.max = max(self.max, value)

    def body(self, metric: str) -> dict[str, Any]:
        # The shapes of the quick-hits sample (MyPureCloud/quick-hits-python, analytics/
        # analytics-conversation-aggregate-query/results.json): n* carry a count, t* max/min/
        # count/sum, o* a ratio of numerator (within the level) over denominator (offered).
        if metric.startswith("n"):
            return {"count": self.count}
        if metric.startswith("o"):
            return {
                "ratio": self.sum / self.count,
                "numerator": self.sum,
                "denominator": self.count,
                "target": SERVICE_LEVEL_TARGET,
            }
        return {"max": self.max, "min": self.min, "count": self.count, "sum": self.sum}


def bucket_edges(*, start_ms: int, end_ms: int, granularity: str | None, tz: ZoneInfo) -> list[int]:
    """Bucket edges from the interval's start. Day and week buckets step the wall clock of `tz`
    (a local day is 23 or 25 hours across DST); shorter ones are fixed lengths. No granularity:
    one bucket, the whole interval."""
    if granularity is None:
        return [start_ms, end_ms]
    match = _GRANULARITY.match(granularity)
    parts = {k: int(v) for k, v in match.groupdict().items() if v} if match else {}
    if not parts or not any(parts.values()):
        raise QueryError(
            "Invalid {field}: {value} (an ISO-8601 duration such as PT30M, PT1H or P1D)",
            field="granularity",
            value=granularity,
        )
    edges = [start_ms]
    days = parts.get("days", 0) + 7 * parts.get("weeks", 0)
    if days:
        wall = (_EPOCH + timedelta(milliseconds=start_ms)).astimezone(tz).replace(tzinfo=None)
        step = 1
        while (edge := org.to_ms((wall + timedelta(days=days * step)).replace(tzinfo=tz))) < end_ms:
            edges.append(edge)
            step += 1
    else:
        step_ms = (parts.get("hours", 0) * 60 + parts.get("minutes", 0)) * org.MINUTE_MS
        edges.extend(range(start_ms + step_ms, end_ms, step_ms))
    edges.append(end_ms)
    return edges


@dataclass(frozen=True)
class AggregatesQuery:
    start_ms: int
    end_ms: int
    edges: list[int]
    metrics: list[str]
    group_by: list[str]
    selected: frozenset[int]


def aggregates_query_read(body: Mapping[str, Any]) -> AggregatesQuery:
    start_ms, end_ms = _interval(body)
    metrics = body.get("metrics")
    if not isinstance(metrics, list) or not metrics:
        raise QueryError("{field} is required: a list of metric names", field="metrics")
    for name in metrics:
        if name not in METRICS:
            raise QueryError(
                "Invalid {field}: {value}; the simulated org computes {known}",
                field="metrics",
                value=name,
                known=", ".join(METRICS),
            )
    time_zone = body.get("timeZone") or "UTC"
    try:
        tz = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise QueryError("Invalid {field}: {value}", field="timeZone", value=time_zone) from None
    group_by = body.get("groupBy") or []
    if not isinstance(group_by, list) or any(d not in AGGREGATE_DIMENSIONS for d in group_by):
        raise QueryError(
            "Invalid {field}: the simulated org groups by {known}",
            field="groupBy",
            known=", ".join(AGGREGATE_DIMENSIONS),
        )
    tests = []
    if body.get("filter") is not None:
        tests.append(_filter_test(body["filter"], field="filter", dimensions=AGGREGATE_DIMENSIONS))
    edges = bucket_edges(
        start_ms=start_ms, end_ms=end_ms, granularity=body.get("granularity"), tz=tz
    )
    return AggregatesQuery(start_ms, end_ms, edges, metrics, group_by, _select(tests))


def aggregates_results(query: AggregatesQuery, *, now_ms: int) -> list[dict[str, Any]]:
    """The `results` list: one entry per group, each with its non-empty buckets in order."""
    # The group always holds mediaType, as the quick-hits sample observed at Genesys.
    dimensions = ["mediaType", *(d for d in query.group_by if d != "mediaType")]
    cells: dict[tuple[str, ...], dict[int, dict[str, _Stats]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    conversations = org.iter_selected(
        start_ms=query.start_ms, end_ms=min(query.end_ms, now_ms), selected=query.selected
    )
    for conversation in conversations:
        # Attribution: the bucket that holds the conversation's start.
        bucket = bisect_right(query.edges, conversation.start_ms) - 1
        group = tuple(getattr(conversation, AGGREGATE_DIMENSIONS[d]) for d in dimensions)
        cell = cells[group][bucket]
        for name in query.metrics:
            value = METRICS[name](conversation)
            if value is not None:
                cell.setdefault(name, _Stats()).add(value)

    results = []
    for group in sorted(cells):
        data = [
            {
                "interval": f"{_iso(query.edges[b])}/{_iso(query.edges[b + 1])}",
                "metrics": [
                    {"metric": name, "stats": stats[name].body(name)}
                    for name in query.metrics
                    if name in stats
                ],
            }
            for b, stats in sorted(cells[group].items())
            if stats  # buckets without data are omitted, as at Genesys
        ]
        if data:
            results.append({"group": dict(zip(dimensions, group, strict=True)), "data": data})
    return results


@csrf_exempt
@require_POST
@api_endpoint
def conversation_aggregates_query(request: HttpRequest) -> HttpResponse:
    try:
        query = aggregates_query_read(_json_body(request))
    except QueryError as error:
        return _bad_request(request, error)
    return json_response({"results": aggregates_results(query, now_ms=_now_ms())})


# --- GET /api/v2/routing/queues -------------------------------------------------------------------


def _page_param(request: HttpRequest, name: str, default: int, maximum: int) -> int:
    raw = request.GET.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= maximum:
        raise QueryError(
            "Invalid {field}: {value} (a whole number from 1 to {maximum})",
            field=name,
            value=raw,
            maximum=maximum,
        )
    return value


@require_GET
@api_endpoint
def routing_queues(request: HttpRequest) -> HttpResponse:
    """The queue list, by name, in the paged-entity shape of Genesys list endpoints."""
    try:
        page_size = _page_param(request, "pageSize", QUEUES_DEFAULT_PAGE_SIZE, QUEUES_MAX_PAGE_SIZE)
        page_number = _page_param(request, "pageNumber", 1, 1_000_000)
    except QueryError as error:
        return _bad_request(request, error)
    queues = sorted(org.QUEUES, key=lambda q: q.name)
    page_count = math.ceil(len(queues) / page_size)
    page = queues[(page_number - 1) * page_size : page_number * page_size]

    def uri(number: int) -> str:
        return f"/api/v2/routing/queues?pageSize={page_size}&pageNumber={number}"

    body: dict[str, Any] = {
        "entities": [
            {
                "id": q.id,
                "name": q.name,
                "memberCount": len(q.agent_ids),
                "selfUri": f"/api/v2/routing/queues/{q.id}",
            }
            for q in page
        ],
        "pageSize": page_size,
        "pageNumber": page_number,
        "total": len(queues),
        "pageCount": page_count,
        "firstUri": uri(1),
        "selfUri": uri(page_number),
        "lastUri": uri(page_count),
    }
    if page_number < page_count:
        body["nextUri"] = uri(page_number + 1)
    if page_number > 1:
        body["previousUri"] = uri(page_number - 1)
    return json_response(body)
