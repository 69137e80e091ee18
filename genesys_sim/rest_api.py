"""The Genesys Cloud REST surface of the simulated org (the details and aggregates queries of the official SDKs' AnalyticsApi): the conversation
details and aggregates queries and the routing queues list, over the same conversations as the
GraphQL contract.

Every view goes through `api_endpoint` (token, rate limit, faults, correlation id), like the
GraphQL endpoint. A request the real API would refuse is HTTP 400 with a Genesys ErrorBody whose
message names the field at fault; so is a feature the simulator does not have (a dimension it
cannot filter on, `order: desc`), so a client never mistakes "not simulated" for "no data".

As at Genesys, the details query answers the conversations that start in the interval, and the
aggregates every metric emitted in it, in the bucket of its emission (org.Leg says when each is
emitted). README.md lists every rule, and where the views differ.
"""

from __future__ import annotations

import math
import re
import time
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from django.conf import settings
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

USERS_DEFAULT_PAGE_SIZE = 25
USERS_MAX_PAGE_SIZE = 500

# Dimensions the simulator can filter or group on -> how a details filter decides them: "kind"
# once per kind of conversation (org.Kind: fast, counted without building), "conversation" per
# conversation (built first), "presence" per conversation with exists/notExists only.
CONVERSATION_DIMENSIONS = {"originatingDirection": "kind", "conversationEnd": "presence"}
SEGMENT_DIMENSIONS = {
    "mediaType": "kind",
    "queueId": "kind",
    "direction": "kind",
    "userId": "conversation",
}
# The aggregates decide every dimension per metric, from the session that emitted it.
AGGREGATE_DIMENSIONS = {
    "originatingDirection": "session",
    "mediaType": "session",
    "queueId": "session",
    "direction": "session",
    "userId": "session",
}

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
    # A query costs time in proportion to its span: no single request may hold a worker long.
    max_days = settings.GENESYS_SIM_MAX_INTERVAL_DAYS
    if moments[1] - moments[0] > max_days * 86_400_000:
        raise QueryError(
            "Invalid {field}: at most {days} days in one query on the simulated org "
            "(GENESYS_SIM_MAX_INTERVAL_DAYS)",
            field="interval",
            days=max_days,
        )
    return moments[0], moments[1]


# --- Filters (the same shape for details and aggregates) -----------------------------------------

# What a filter sees: a dimension's values, empty when the dimension is absent. For the details,
# those of the whole conversation (any of its segments); for the aggregates, those of the one
# session that emitted a metric.
Facts = Callable[[str], Collection[str]]
FactsTest = Callable[[Facts], bool]


@dataclass(frozen=True)
class FilterTest:
    test: FactsTest
    per_conversation: bool  # reads a dimension that is not decided per kind


def _filter_test(
    raw: Any, *, field: str, dimensions: Mapping[str, str], clauses_allowed: bool = True
) -> FilterTest:
    """A filter `{type, predicates, clauses}` (a clause is the same without clauses) as a test
    on what a filter sees."""
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
    return FilterTest(
        lambda facts: combine(t.test(facts) for t in tests),
        any(t.per_conversation for t in tests),
    )


def _predicate_test(raw: Any, *, field: str, dimensions: Mapping[str, str]) -> FilterTest:
    if not isinstance(raw, dict):
        raise QueryError("{field} must be an object", field=field)
    if raw.get("type", "dimension") != "dimension":
        raise QueryError(
            "{field}.type {value}: the simulated org filters on dimensions only",
            field=field,
            value=raw.get("type"),
        )
    dimension = raw.get("dimension")
    level = dimensions.get(dimension) if isinstance(dimension, str) else None
    if level is None:
        raise QueryError(
            "{field}.dimension {value}: the simulated org can filter here on {known}",
            field=field,
            value=dimension,
            known=", ".join(dimensions),
        )
    assert isinstance(dimension, str)
    per_conversation = level != "kind"
    operator = raw.get("operator", "matches")
    # Some conversations have no queue, or no agent, and a queue's session has no agent.
    if operator == "exists":
        return FilterTest(lambda facts: bool(facts(dimension)), per_conversation)
    if operator == "notExists":
        return FilterTest(lambda facts: not facts(dimension), per_conversation)
    if operator != "matches":
        raise QueryError(
            "{field}.operator {value}: use matches, exists or notExists",
            field=field,
            value=operator,
        )
    if level == "presence":
        raise QueryError(
            "{field}: {value} takes operator exists or notExists", field=field, value=dimension
        )
    value = raw.get("value")
    if not isinstance(value, str):
        raise QueryError("{field}.value is required for operator matches", field=field)
    return FilterTest(lambda facts: value in facts(dimension), per_conversation)


def _filters_test(raw: Any, *, field: str, dimensions: Mapping[str, str]) -> list[FilterTest]:
    """A list of filters (conversationFilters, segmentFilters): each must hold."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise QueryError("{field} must be a list of filters", field=field)
    return [
        _filter_test(f, field=f"{field}[{i}]", dimensions=dimensions) for i, f in enumerate(raw)
    ]


def _all_hold(tests: list[FilterTest]) -> FactsTest | None:
    if not tests:
        return None
    return lambda facts: all(t.test(facts) for t in tests)


def _kind_facts(kind: org.Kind) -> Facts:
    values = {
        "originatingDirection": (kind.direction,),
        "direction": (kind.direction,),
        "mediaType": (kind.media_type,),
        "queueId": kind.queue_ids,  # a transferred conversation meets two queues
    }
    return values.__getitem__


def _conversation_facts(conversation: org.Conversation, *, now_ms: int) -> Facts:
    """What a details filter sees of a conversation at `now_ms`: the agents who have joined it
    so far, whether it has ended, and its kind's dimensions."""
    of_kind = _kind_facts(conversation.kind)

    def facts(dimension: str) -> Collection[str]:
        if dimension == "userId":
            return [
                leg.user_id
                for leg in conversation.legs
                if leg.user_id is not None and leg.leave_ms <= now_ms
            ]
        if dimension == "conversationEnd":
            return (_iso(conversation.end_ms),) if conversation.end_ms <= now_ms else ()
        return of_kind(dimension)

    return facts


@dataclass(frozen=True)
class Selection:
    """What details filters let through: the kinds (decided without building a conversation)
    and, when a filter reads a per-conversation dimension, the test each conversation passes."""

    kinds: frozenset[int]
    test: FactsTest | None


def _select(tests: list[FilterTest]) -> Selection:
    per_kind = [t for t in tests if not t.per_conversation]
    kinds = org.select_kinds(where=lambda kind: all(t.test(_kind_facts(kind)) for t in per_kind))
    return Selection(kinds, _all_hold([t for t in tests if t.per_conversation]))


# --- POST /api/v2/analytics/conversations/details/query -------------------------------------------


@dataclass(frozen=True)
class DetailsQuery:
    start_ms: int
    end_ms: int
    selection: Selection
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


@dataclass(frozen=True)
class DetailsSpan:
    """What a details query sees at `now_ms`: the conversations that started in
    [start_ms, end_ms), are already visible (org.VISIBILITY_DELAY_*) and pass the filters."""

    start_ms: int
    end_ms: int
    selection: Selection
    now_ms: int

    def within(self, *, start_ms: int, end_ms: int) -> DetailsSpan:
        return DetailsSpan(
            max(start_ms, self.start_ms), min(end_ms, self.end_ms), self.selection, self.now_ms
        )


def _details_iter(
    span: DetailsSpan, *, after: tuple[int, int] | None = None
) -> Iterator[org.Conversation]:
    test, now_ms = span.selection.test, span.now_ms
    for conversation in org.iter_selected(
        start_ms=span.start_ms, end_ms=span.end_ms, selected=span.selection.kinds, after=after
    ):
        if conversation.visible_ms > now_ms:
            continue
        if test is None or test(_conversation_facts(conversation, now_ms=now_ms)):
            yield conversation


def _details_count(span: DetailsSpan) -> int:
    """How many `_details_iter` yields. Conversations that started over the longest visibility
    delay ago are all visible: without a per-conversation filter they are counted, not built."""
    total, start_ms = 0, span.start_ms
    if span.selection.test is None:
        start_ms = max(start_ms, min(span.end_ms, span.now_ms - org.VISIBILITY_DELAY_MAX_MS))
        total = org.count_selected(
            start_ms=span.start_ms, end_ms=start_ms, selected=span.selection.kinds
        )
    if start_ms < span.end_ms:
        total += sum(1 for _ in _details_iter(span.within(start_ms=start_ms, end_ms=span.end_ms)))
    return total


def _position_before(span: DetailsSpan, *, offset: int) -> tuple[int, int] | None:
    """Where a page that starts at the `offset`-th conversation (0-based) resumes: the position
    of the one before it. Whole minutes are only counted (no conversation is built, unless a
    filter is decided per conversation), so a deep page costs O(minutes), not O(conversations)."""
    if offset == 0:
        return None
    remaining = offset
    minute = span.start_ms // org.MINUTE_MS
    while minute * org.MINUTE_MS < span.end_ms:
        one = span.within(start_ms=minute * org.MINUTE_MS, end_ms=(minute + 1) * org.MINUTE_MS)
        count = _details_count(one)
        if count >= remaining:
            return list(islice(_details_iter(one), remaining))[-1].position
        remaining -= count
        minute += 1
    return (minute, 0)  # past the end: the page is empty


def _sub_id(conversation_id: str, tag: str, leg: int = 0) -> str:
    # Another id of the conversation's family (participants, sessions): org.py marks the
    # conversation with 8 and its customer with 9 at position 19; a second leg's ids also have
    # 5 for 4 at position 14.
    found = conversation_id[:19] + tag + conversation_id[20:]
    return found[:14] + str(4 + leg) + found[15:] if leg else found


INTERNAL_CALLER_NAME = "Internal caller"


def detail_conversation(c: org.Conversation, *, now_ms: int) -> dict[str, Any]:
    """One AnalyticsConversation (the SDKs' model) as the details query sees it at `now_ms`.

    Participants: the customer (purpose `user` for an internal call: a colleague's extension,
    not one of the org's agents), then per leg the queue (`acd`, when offered) and the agent.
    Metrics are org.Leg's, with their emitDate, but only those already emitted (and not the
    aggregate-only tWait and oServiceLevel); segments that have not started are left out, the
    current one has no segmentEnd, and a conversation still going on has no conversationEnd."""

    def metrics(found: list[org.Metric]) -> list[dict[str, Any]]:
        return [
            {"name": m.name, "value": m.value, "emitDate": _iso(m.emit_ms)}
            for m in found
            if m.emit_ms <= now_ms and m.name not in org.AGGREGATE_ONLY_METRICS
        ]

    def segments(found: list[tuple[str, int, int, dict[str, str]]]) -> list[dict[str, Any]]:
        shown = []
        for segment_type, start, end, extra in found:
            if start > now_ms:
                break
            segment = {"segmentStart": _iso(start)}
            if end <= now_ms:
                segment["segmentEnd"] = _iso(end)
            segment["segmentType"] = segment_type
            segment |= {k: v for k, v in extra.items() if k != "disconnectType" or end <= now_ms}
            shown.append(segment)
        return shown

    def participant(
        ids: tuple[str, str],
        found_metrics: list[org.Metric],
        found_segments: list[tuple[str, int, int, dict[str, str]]],
        **fields: str,
    ) -> dict[str, Any] | None:
        shown = segments(found_segments)
        if not shown:
            return None  # has not joined yet
        session: dict[str, Any] = {
            "sessionId": ids[1],
            "mediaType": c.media_type,
            "direction": c.direction,
        }
        if shown_metrics := metrics(found_metrics):
            session["metrics"] = shown_metrics
        session["segments"] = shown
        return {"participantId": ids[0], **fields, "sessions": [session]}

    if c.route == "internal":
        caller = {"purpose": "user", "participantName": INTERNAL_CALLER_NAME}
    else:
        caller = {"purpose": "customer"}
    found = [
        participant(
            (c.customer_id, _sub_id(c.id, "c")),
            [],
            [("interact", c.start_ms, c.end_ms, {"disconnectType": "endpoint"})],
            **caller,
        )
    ]
    for number, leg in enumerate(c.legs):
        if leg.offered:
            assert leg.queue_id is not None
            end_type = {"answered": "transfer", "abandoned": "peer", "flowout": "transfer"}
            found.append(
                participant(
                    (_sub_id(c.id, "a", number), _sub_id(c.id, "d", number)),
                    leg.queue_metrics(),
                    [
                        (
                            "interact",
                            leg.enter_ms,
                            leg.leave_ms,
                            {"queueId": leg.queue_id, "disconnectType": end_type[leg.outcome]},
                        )
                    ],
                    purpose="acd",
                    participantName=org.QUEUES_BY_ID[leg.queue_id].name,
                )
            )
        if leg.user_id is not None:
            timeline = leg.agent_segments()
            agent_segments = []
            for segment_type, start, end in timeline:
                extra = (
                    {"queueId": leg.queue_id} if leg.queue_id and segment_type != "wrapup" else {}
                )
                agent_segments.append((segment_type, start, end, extra))
            # The agent's last segment before wrap-up ends the call, or hands it to a queue.
            agent_segments[-2][3]["disconnectType"] = "transfer" if leg.transferred else "endpoint"
            found.append(
                participant(
                    (_sub_id(c.id, "b", number), _sub_id(c.id, "e", number)),
                    leg.agent_metrics(),
                    agent_segments,
                    purpose="agent",
                    userId=leg.user_id,
                    participantName=org.AGENTS_BY_ID[leg.user_id].name,
                )
            )
    conversation: dict[str, Any] = {
        "conversationId": c.id,
        "conversationStart": _iso(c.start_ms),
    }
    if c.end_ms <= now_ms:
        conversation["conversationEnd"] = _iso(c.end_ms)
    conversation["originatingDirection"] = c.direction
    conversation["participants"] = [p for p in found if p is not None]
    return conversation


@csrf_exempt
@require_POST
@api_endpoint
def conversation_details_query(request: HttpRequest) -> HttpResponse:
    try:
        query = details_query_read(_json_body(request))
    except QueryError as error:
        return _bad_request(request, error)
    now_ms = _now_ms()
    # Conversations that have not started yet do not exist.
    span = DetailsSpan(query.start_ms, min(query.end_ms, now_ms), query.selection, now_ms)
    after = _position_before(span, offset=(query.page_number - 1) * query.page_size)
    page = list(islice(_details_iter(span, after=after), query.page_size))
    body: dict[str, Any] = {"totalHits": _details_count(span)}
    if page:
        # The field is absent on an empty page: clients page until it is (as the SDK samples do).
        body["conversations"] = [detail_conversation(c, now_ms=now_ms) for c in page]
    return json_response(body)


# --- POST /api/v2/analytics/conversations/aggregates/query ----------------------------------------

# The metrics the simulated org emits (org.Leg says when each is emitted, and on which session).
METRICS = (
    "nOffered",
    "nOverSla",
    "nTransferred",
    "nOutbound",
    "oServiceLevel",
    "tAcd",
    "tWait",
    "tAnswered",
    "tAbandon",
    "tShortAbandon",
    "tFlowOut",
    "tDialing",
    "tContacting",
    "tTalk",
    "tTalkComplete",
    "tHeld",
    "tHeldComplete",
    "tAcw",
    "tHandle",
)

_GRANULARITY = re.compile(
    r"^P(?:(?P<weeks>\d+)W|(?P<days>\d+)D|T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?)$"
)


class _Stats:
    __slots__ = ("count", "sum", "min", "max", "targets")

    def __init__(self) -> None:
        self.count, self.sum, self.min, self.max = 0, 0, math.inf, -math.inf
        self.targets: set[float] = set()

    def add(self, value: int) -> None:
        self.count += 1
        self.sum += value
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value

    def body(self, metric: str) -> dict[str, Any]:
        # The shapes of the quick-hits sample (MyPureCloud/quick-hits-python, analytics/
        # analytics-conversation-aggregate-query/results.json): n* carry a count, t* max/min/
        # count/sum, o* a ratio of numerator (answered within the level) over denominator
        # (answered + abandoned, as org.SERVICE_LEVEL_COUNTS_* say).
        if metric.startswith("n"):
            return {"count": self.count}
        if metric.startswith("o"):
            found = {
                "numerator": self.sum,
                "denominator": self.count,
                "ratio": self.sum / self.count,
            }
            # The queue's goal; a group that mixes queues or media types with different goals
            # has none.
            if len(self.targets) == 1:
                found["target"] = next(iter(self.targets))
            return found
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
    test: FactsTest | None  # decided per metric, on the session that emitted it


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
    return AggregatesQuery(start_ms, end_ms, edges, metrics, group_by, _all_hold(tests))


def _emitting_conversations(*, start_ms: int, end_ms: int) -> Iterator[org.Conversation]:
    """Every conversation that may emit a metric in [start_ms, end_ms): those that start in it,
    and those that started before it, up to their kind's lifetime (org.Kind.lifetime_ms) before.
    The look-back is done in steps, so the long-lived kinds (emails, transfers) alone are built
    for the hours before the interval."""
    lifetimes = sorted({kind.lifetime_ms for kind in org.KINDS}, reverse=True)
    for step, lifetime in enumerate(lifetimes):
        later = lifetimes[step + 1] if step + 1 < len(lifetimes) else 0
        kinds = frozenset(n for n, k in enumerate(org.KINDS) if k.lifetime_ms >= lifetime)
        yield from org.iter_selected(
            start_ms=start_ms - lifetime, end_ms=start_ms - later, selected=kinds
        )
    yield from org.iter_selected(start_ms=start_ms, end_ms=end_ms, selected=org.ALL_KINDS)


def _session_facts(values: Mapping[str, str | None]) -> Facts:
    return lambda dimension: () if (value := values[dimension]) is None else (value,)


def metric_sessions(
    conversation: org.Conversation,
) -> Iterator[tuple[str | None, str | None, list[org.Metric]]]:
    """(queueId, userId, metrics) of each session that emits metrics: a leg's queue (no user),
    and its agent (with the leg's queue, if any)."""
    for leg in conversation.legs:
        if leg.offered:
            yield leg.queue_id, None, leg.queue_metrics()
        if leg.user_id is not None:
            yield leg.queue_id, leg.user_id, leg.agent_metrics()


def aggregates_results(query: AggregatesQuery, *, now_ms: int) -> list[dict[str, Any]]:
    """The `results` list: one entry per group, each with its non-empty buckets in order.

    Every metric goes to the bucket in which it is emitted, and only once emitted (by `now_ms`).
    A metric's group holds the dimensions of the session that emitted it: mediaType always (as
    the quick-hits sample observed at Genesys), and each grouped dimension the session has (a
    metric with no queue or no agent comes in a group without that key)."""
    until = min(query.end_ms, now_ms + 1)
    wanted = set(query.metrics)
    dimensions = ["mediaType", *(d for d in query.group_by if d != "mediaType")]
    edges, start_ms = query.edges, query.start_ms
    cells: dict[tuple[tuple[str, str], ...], dict[int, dict[str, _Stats]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for conversation in _emitting_conversations(start_ms=start_ms, end_ms=until):
        media_type, direction = conversation.media_type, conversation.direction
        for queue_id, user_id, metrics in metric_sessions(conversation):
            values = {
                "mediaType": media_type,
                "originatingDirection": direction,
                "direction": direction,
                "queueId": queue_id,
                "userId": user_id,
            }
            if query.test is not None and not query.test(_session_facts(values)):
                continue
            group = tuple((d, v) for d in dimensions if (v := values[d]) is not None)
            buckets = cells[group]
            for name, value, emit_ms in metrics:
                if name not in wanted or not start_ms <= emit_ms < until:
                    continue
                cell = buckets[bisect_right(edges, emit_ms) - 1]
                stats = cell.get(name)
                if stats is None:
                    stats = cell[name] = _Stats()
                stats.add(value)
                if name == "oServiceLevel":
                    assert queue_id is not None
                    level = org.QUEUES_BY_ID[queue_id].service_levels[media_type]
                    stats.targets.add(level.percentage)

    results = []
    for group in sorted(cells):
        data = [
            {
                "interval": f"{_iso(edges[b])}/{_iso(edges[b + 1])}",
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
            results.append({"group": dict(group), "data": data})
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


def _entity_page(
    request: HttpRequest,
    *,
    path: str,
    entities: list[dict[str, Any]],
    default_page_size: int,
    max_page_size: int,
) -> HttpResponse:
    """One page of a Genesys list endpoint: `?pageSize=&pageNumber=` and the paged-entity shape."""
    try:
        page_size = _page_param(request, "pageSize", default_page_size, max_page_size)
        page_number = _page_param(request, "pageNumber", 1, 1_000_000)
    except QueryError as error:
        return _bad_request(request, error)
    page_count = math.ceil(len(entities) / page_size)

    def uri(number: int) -> str:
        return f"{path}?pageSize={page_size}&pageNumber={number}"

    body: dict[str, Any] = {
        "entities": entities[(page_number - 1) * page_size : page_number * page_size],
        "pageSize": page_size,
        "pageNumber": page_number,
        "total": len(entities),
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


def queue_entity(queue: org.Queue) -> dict[str, Any]:
    """A queue as GET /api/v2/routing/queues lists it. `mediaSettings` keeps the names of the
    SDKs' QueueMediaSettings (call, callback, chat, email, message) and ServiceLevel
    (percentage 0..1, durationMs)."""
    return {
        "id": queue.id,
        "name": queue.name,
        "memberCount": len(queue.agent_ids),
        "mediaSettings": {
            org.MEDIA_SETTINGS_KEYS[media_type]: {
                "serviceLevel": {"percentage": level.percentage, "durationMs": level.duration_ms}
            }
            for media_type, level in queue.service_levels.items()
        },
        "selfUri": f"/api/v2/routing/queues/{queue.id}",
    }


@require_GET
@api_endpoint
def routing_queues(request: HttpRequest) -> HttpResponse:
    """The queue list, by name, in the paged-entity shape of Genesys list endpoints."""
    return _entity_page(
        request,
        path="/api/v2/routing/queues",
        entities=[queue_entity(q) for q in sorted(org.QUEUES, key=lambda q: q.name)],
        default_page_size=QUEUES_DEFAULT_PAGE_SIZE,
        max_page_size=QUEUES_MAX_PAGE_SIZE,
    )


# --- GET /api/v2/users ----------------------------------------------------------------------------


@require_GET
@api_endpoint
def users(request: HttpRequest) -> HttpResponse:
    """The org's users (its agents), by name, paged like the queue list."""
    return _entity_page(
        request,
        path="/api/v2/users",
        entities=[
            {"id": a.id, "name": a.name, "state": "active", "selfUri": f"/api/v2/users/{a.id}"}
            for a in sorted(org.AGENTS, key=lambda a: a.name)
        ],
        default_page_size=USERS_DEFAULT_PAGE_SIZE,
        max_page_size=USERS_MAX_PAGE_SIZE,
    )
