"""The project's GraphQL contract (docs/GRAPHQL.md), served from the simulated org's data.

This is the project's own contract, not a Genesys Cloud API: Genesys has no GraphQL endpoint.
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from itertools import islice
from typing import Any

import orjson
from django.conf import settings
from django.core import signing
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLResolveInfo,
    build_schema,
    execute,
    parse,
    validate,
)

from genesys_sim import org

SCHEMA_SDL = """
input DateRange { begin: String!  end: String! }
input Filter { field: String!  operator: String!  value: String! }
input ConversationQuery { viewId: String  dateRange: DateRange!  filter: [Filter!]  pageSize: Int }
type Metrics { duration: Float  waitTime: Float  holdTime: Float }
type Participant { id: ID!  type: String }
type Conversation { id: ID!  type: String  direction: String  startTime: String  endTime: String
                    metrics: Metrics  participants: [Participant!] }
type ConversationPage { pageToken: String  pageSize: Int  totalCount: Int  items: [Conversation!]! }
type Query { conversations(query: ConversationQuery, pageToken: String): ConversationPage }
"""

DEFAULT_PAGE_SIZE = 100
PAGE_TOKEN_SALT = "genesys_sim.page_token"

# Filter field -> the attribute of org.Kind it reads. queueId reads every queue the conversation
# meets (two when transferred, none for one without a queue, which no queueId filter matches).
FILTER_FIELDS = {"type": "media_type", "direction": "direction", "queueId": "queue_ids"}
FILTER_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "eq": lambda actual, wanted: actual == wanted,
    "gt": lambda actual, wanted: actual > wanted,
    "lt": lambda actual, wanted: actual < wanted,
    "contains": lambda actual, wanted: wanted in actual,
}


@dataclass(frozen=True)
class ConversationsQuery:
    """A validated `ConversationQuery` input, in the simulator's terms."""

    view_id: str
    begin_ms: int
    end_ms: int
    filters: tuple[tuple[str, str, str], ...]  # (field, operator, value), sorted
    page_size: int

    def fingerprint(self) -> str:
        """What a page token is bound to: everything but the page size, which may vary."""
        canonical = orjson.dumps([self.view_id, self.begin_ms, self.end_ms, self.filters])
        return hashlib.sha256(canonical).hexdigest()[:32]

    def matches(self, kind: org.Kind) -> bool:
        # Filters on the same field are alternatives (OR); different fields must all hold (AND).
        by_field: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for field, operator, value in self.filters:
            by_field[field].append((operator, value))
        for field, tests in by_field.items():
            found = getattr(kind, FILTER_FIELDS[field])
            values = (found,) if isinstance(found, str) else found
            if not any(
                FILTER_OPERATORS[op](actual, value) for op, value in tests for actual in values
            ):
                return False
        return True


def _parse_moment(value: str, field: str) -> int:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise GraphQLError(
            f"invalid {field}: {value!r} is not an ISO 8601 date-time with an offset"
        ) from None
    if moment.tzinfo is None:
        raise GraphQLError(f"invalid {field}: {value!r} has no UTC offset (add Z or +HH:MM)")
    return org.to_ms(moment)


def conversations_query_read(raw: dict[str, Any]) -> ConversationsQuery:
    """Validate the `query` argument; every error names the field at fault."""
    date_range = raw["dateRange"]
    begin_ms = _parse_moment(date_range["begin"], "dateRange.begin")
    end_ms = _parse_moment(date_range["end"], "dateRange.end")
    if end_ms < begin_ms:
        raise GraphQLError("invalid dateRange.end: it is before dateRange.begin")
    # The first page counts the whole range: no single request may hold a worker for long.
    max_days = settings.GENESYS_SIM_MAX_INTERVAL_DAYS
    if end_ms - begin_ms > max_days * 86_400_000:
        raise GraphQLError(
            f"invalid dateRange: at most {max_days} days in one query on the simulated org "
            "(GENESYS_SIM_MAX_INTERVAL_DAYS)"
        )

    filters = []
    for item in raw.get("filter") or ():
        if item["field"] not in FILTER_FIELDS:
            raise GraphQLError(
                f"unknown filter field {item['field']!r} (expected one of "
                f"{', '.join(FILTER_FIELDS)})"
            )
        if item["operator"] not in FILTER_OPERATORS:
            raise GraphQLError(
                f"unknown filter operator {item['operator']!r} for field {item['field']!r} "
                f"(expected one of {', '.join(FILTER_OPERATORS)})"
            )
        filters.append((item["field"], item["operator"], item["value"]))

    page_size = raw.get("pageSize")
    if page_size is None:
        page_size = DEFAULT_PAGE_SIZE
    if page_size < 1:
        raise GraphQLError(f"invalid pageSize: {page_size} (it must be at least 1)")
    return ConversationsQuery(
        view_id=raw.get("viewId") or "all",
        begin_ms=begin_ms,
        end_ms=end_ms,
        filters=tuple(sorted(filters)),
        # Larger requests are served at the cap; the page says which size it used.
        page_size=min(page_size, settings.GENESYS_SIM_MAX_PAGE_SIZE),
    )


@dataclass(frozen=True)
class Cursor:
    """Where a scan resumes, and what the first page settled for the whole scan."""

    after: tuple[int, int] | None  # position of the last conversation served
    served: int  # conversations served so far
    total: int  # totalCount, counted once on the first page
    end_ms: int  # the range's end, cut at the first page's "now"


def _page_token_write(query: ConversationsQuery, cursor: Cursor) -> str:
    assert cursor.after is not None
    payload = {
        "q": query.fingerprint(),
        "m": cursor.after[0],
        "i": cursor.after[1],
        "n": cursor.served,
        "t": cursor.total,
        "e": cursor.end_ms,
    }
    return signing.dumps(payload, salt=PAGE_TOKEN_SALT)


def _page_token_read(token: str, query: ConversationsQuery) -> Cursor:
    try:
        payload = signing.loads(token, salt=PAGE_TOKEN_SALT)
        if payload["q"] != query.fingerprint():
            raise GraphQLError("invalid pageToken: it belongs to another query")
        return Cursor(
            after=(int(payload["m"]), int(payload["i"])),
            served=int(payload["n"]),
            total=int(payload["t"]),
            end_ms=int(payload["e"]),
        )
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise GraphQLError("invalid pageToken") from None


_EPOCH_NAIVE = datetime(1970, 1, 1)


def _iso(ms: int) -> str:
    return (_EPOCH_NAIVE + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds") + "Z"


def _conversation_item(
    conversation: org.Conversation, *, now_ms: int | None = None
) -> dict[str, Any]:
    """One `Conversation` as the contract serves it at `now_ms` (None: as once it is all over).

    A conversation still going on has `endTime` and `duration` null; `waitTime` is the time in
    queue of the queue offers it has left (null when it met no queue, or is still in the first),
    and `holdTime` that of the holds that have ended (null when no agent has joined it yet, or
    none ever will). `participants`: the customer, then each agent who has joined."""
    if now_ms is None:
        now_ms = conversation.last_emit_ms
    legs = conversation.legs
    waits = [leg.wait_ms for leg in legs if leg.offered and leg.leave_ms <= now_ms]
    joined = [leg for leg in legs if leg.user_id is not None and leg.leave_ms <= now_ms]
    holds = [
        end - start
        for leg in joined
        for segment_type, start, end in leg.agent_segments()
        if segment_type == "hold" and end <= now_ms
    ]
    participants: list[dict[str, str | None]] = [
        {"id": conversation.customer_id, "type": "customer"}
    ]
    participants += [{"id": leg.user_id, "type": "agent"} for leg in joined]
    end_ms = conversation.end_ms
    ended = end_ms <= now_ms
    return {
        "id": conversation.id,
        "type": conversation.media_type,
        "direction": conversation.direction,
        "startTime": _iso(conversation.start_ms),
        "endTime": _iso(end_ms) if ended else None,
        "metrics": {
            "duration": (end_ms - conversation.start_ms) / 1000 if ended else None,
            "waitTime": sum(waits) / 1000 if waits else None,
            "holdTime": sum(holds) / 1000 if joined else None,
        },
        "participants": participants,
    }


def resolve_conversations(
    _root: None,
    _info: GraphQLResolveInfo,
    query: dict[str, Any] | None = None,
    pageToken: str | None = None,  # the contract's spelling: graphql-core passes it as named
) -> dict[str, Any]:
    if query is None:
        raise GraphQLError("conversations needs a query argument")
    spec = conversations_query_read(query)
    # Raises UnknownView, which the view turns into HTTP 403.
    selected = org.select_kinds(view_id=spec.view_id, where=spec.matches)

    # Conversations still going on are served as they are now (endTime null, ...).
    now_ms = int(time.time() * 1000)
    if pageToken is None:
        # Conversations that have not started yet do not exist. The cut is taken once, here,
        # and carried in the token so every page of one scan sees the same conversations.
        end_ms = min(spec.end_ms, now_ms)
        total = org.count_selected(start_ms=spec.begin_ms, end_ms=end_ms, selected=selected)
        cursor = Cursor(after=None, served=0, total=total, end_ms=end_ms)
    else:
        cursor = _page_token_read(pageToken, spec)

    page = list(
        islice(
            org.iter_selected(
                start_ms=spec.begin_ms,
                end_ms=cursor.end_ms,
                selected=selected,
                after=cursor.after,
            ),
            spec.page_size,
        )
    )
    served = cursor.served + len(page)
    next_token = None
    if page and served < cursor.total:
        next_token = _page_token_write(
            spec,
            Cursor(
                after=page[-1].position, served=served, total=cursor.total, end_ms=cursor.end_ms
            ),
        )
    return {
        "pageToken": next_token,
        "pageSize": spec.page_size,
        "totalCount": cursor.total,
        "items": [_conversation_item(c, now_ms=now_ms) for c in page],
    }


schema = build_schema(SCHEMA_SDL)
schema.query_type.fields["conversations"].resolve = resolve_conversations  # type: ignore[union-attr]


@lru_cache(maxsize=64)
def _parsed(source: str) -> tuple[DocumentNode | None, tuple[GraphQLError, ...]]:
    # A paging client sends the same document page after page: parse and validate it once.
    try:
        document = parse(source)
    except GraphQLError as error:
        return None, (error,)
    errors = validate(schema, document)
    return (None, tuple(errors)) if errors else (document, ())


def graphql_run(
    *, source: str, variables: dict[str, Any] | None, operation_name: str | None
) -> ExecutionResult:
    document, errors = _parsed(source)
    if document is None:
        return ExecutionResult(data=None, errors=list(errors))
    result = execute(schema, document, variable_values=variables, operation_name=operation_name)
    assert isinstance(result, ExecutionResult)  # every resolver is synchronous
    return result


def unknown_view(result: ExecutionResult) -> str | None:
    """The view id that failed, when the result failed for an unknown view."""
    for error in result.errors or ():
        if isinstance(error.original_error, org.UnknownView):
            return error.original_error.view_id
    return None
