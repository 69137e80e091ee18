"""What every analytics query to Genesys shares: which conversations (filters) and when
(the interval), in the shapes the Genesys query bodies take."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from analytics_worker.genesys.errors import GenesysProtocolError


@dataclass(frozen=True)
class Dimension:
    """One property of a conversation that queries select on (and group by), as each query
    names it."""

    analytics: str  # the REST analytics name: aggregates filter and groupBy, details filter
    details_level: Literal["conversation", "segment"]  # which details filter takes it
    graphql: str  # the GraphQL contract's filter field


# ConversationFilters' field -> its dimension. A new dimension is one entry here and one field
# there; every query body reads them from this table.
DIMENSIONS = {
    "media_types": Dimension("mediaType", "segment", "type"),
    "directions": Dimension("originatingDirection", "conversation", "direction"),
    "queue_ids": Dimension("queueId", "segment", "queueId"),
    # The agents on the conversation (a drill-down into one agent's row).
    "user_ids": Dimension("userId", "segment", "userId"),
}


@dataclass(frozen=True)
class ConversationFilters:
    """Which conversations a query covers. An empty selection means all of that dimension;
    several values of one dimension are ORed, the dimensions ANDed."""

    media_types: tuple[str, ...] = ()
    directions: tuple[str, ...] = ()
    queue_ids: tuple[str, ...] = ()
    user_ids: tuple[str, ...] = ()
    # Only conversations that went through a queue: direct and internal calls, and agent
    # outbound not made for a queue, carry no queueId and are left out.
    queue_work_only: bool = False

    def selections(self) -> list[tuple[Dimension, tuple[str, ...]]]:
        """(dimension, values) of every dimension, in a fixed order, empty ones included."""
        return [(DIMENSIONS[name], getattr(self, name)) for name in DIMENSIONS]

    def required(self) -> list[Dimension]:
        """The dimensions a conversation must have at all (an `exists` predicate each)."""
        return [DIMENSIONS["queue_ids"]] if self.queue_work_only and not self.queue_ids else []


def query_filter(
    selections: Iterable[tuple[str, Sequence[str]]], *, required: Iterable[str] = ()
) -> dict[str, Any] | None:
    """A Genesys filter that ANDs the dimensions: one value is a predicate, several are an OR
    clause (the shape of Genesys's own examples); an empty selection means "all". Each of
    `required` must exist on the conversation (operator exists)."""
    predicates: list[dict[str, str]] = [
        {"type": "dimension", "dimension": dimension, "operator": "exists"}
        for dimension in required
    ]
    clauses: list[dict[str, Any]] = []
    for dimension, values in selections:
        if len(values) == 1:
            predicates.append(_predicate(dimension, values[0]))
        elif values:
            clauses.append({"type": "or", "predicates": [_predicate(dimension, v) for v in values]})
    if not predicates and not clauses:
        return None
    found: dict[str, Any] = {"type": "and"}
    if predicates:
        found["predicates"] = predicates
    if clauses:
        found["clauses"] = clauses
    return found


def _predicate(dimension: str, value: str) -> dict[str, str]:
    return {"type": "dimension", "dimension": dimension, "operator": "matches", "value": value}


def interval_text(start: datetime, end: datetime) -> str:
    """An ISO 8601 interval in UTC with milliseconds: a scan that resumes at a conversation's
    start must not round it away."""
    return f"{iso_utc_ms(start)}/{iso_utc_ms(end)}"


def iso_utc_ms(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def interval_start(interval: Any, *, query: str) -> datetime:
    """The start of an answer's `interval` ("start/end", ISO 8601 with an offset); `query`
    names the query in the error."""
    try:
        moment = datetime.fromisoformat(str(interval).split("/")[0])
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise GenesysProtocolError(
            f"The {query} answered an interval that is not ISO 8601: {interval!r:.60}"
        )
    return moment
