"""The `graphql` source: the project's own GraphQL contract (docs/GRAPHQL.md).

This is NOT a Genesys Cloud API (Genesys has no GraphQL endpoint: the official SDKs' swagger.json has no
such path). The contract is
served by the simulated org, or by a GraphQL gateway a customer runs in front of Genesys, at
`POST {GENESYS_API_URL}/api/v2/analytics/graphql` with the same OAuth token and rate limit, so it
goes through genesys_request like everything else.

The query text is a constant; every user value (view, dates, filters, page token) travels only as
a GraphQL variable, so nothing a user types can change the query.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from analytics_worker.genesys.errors import GenesysProtocolError, GraphQLError
from analytics_worker.genesys.http import FetchProgress, genesys_request
from analytics_worker.genesys.query import ConversationFilters

GRAPHQL_PATH = "/api/v2/analytics/graphql"

# Every field of the contract's Conversation type.
CONVERSATIONS_QUERY = """\
query Conversations($query: ConversationQuery, $pageToken: String) {
  conversations(query: $query, pageToken: $pageToken) {
    pageToken
    pageSize
    totalCount
    items {
      id
      type
      direction
      startTime
      endTime
      metrics { duration waitTime holdTime }
      participants { id type }
    }
  }
}
"""


def graphql_conversation_pages(
    *,
    start: datetime,
    end: datetime,
    view_id: str,
    filters: ConversationFilters,
    progress: FetchProgress | None = None,
    page_size: int | None = None,
    max_pages: int = 10_000,
    max_items: int = 5_000_000,
) -> Iterator[list[dict[str, Any]]]:
    """Yield each page's conversations as it arrives (never accumulating), following pageToken
    until it is null. Raises GraphQLError for an `errors` answer and GenesysProtocolError when
    the source loops, answers nonsense, or exceeds max_pages / max_items."""
    query = graphql_query_variables(
        start=start, end=end, view_id=view_id, filters=filters, page_size=page_size
    )
    page_token: str | None = None
    sent_tokens: set[str] = set()
    pages = 0
    items_total = 0
    while True:
        body = genesys_request(
            "POST",
            GRAPHQL_PATH,
            json={
                "query": CONVERSATIONS_QUERY,
                "variables": {"query": query, "pageToken": page_token},
            },
            progress=progress,
        )
        page = _conversation_page(body)
        items = page["items"]
        pages += 1
        items_total += len(items)
        if items_total > max_items:
            raise GenesysProtocolError(
                f"The report has more than {max_items:,} conversations, more than one fetch may "
                "hold: narrow the date range or the filters"
            )
        yield items

        page_token = page.get("pageToken") or None
        if page_token is None:
            return
        # A source that hands back a token it gave before would page forever.
        if page_token in sent_tokens:
            raise GenesysProtocolError(
                f"The GraphQL source returned a page token it had already given (after {pages} "
                "pages), so paging would never end; the fetch was stopped. This is a fault in the "
                "GraphQL source or a cache in front of it"
            )
        if pages >= max_pages:
            raise GenesysProtocolError(
                f"The GraphQL source still had more pages after {max_pages:,} pages; the fetch "
                "was stopped: narrow the date range or the filters"
            )
        sent_tokens.add(page_token)


def graphql_query_variables(
    *,
    start: datetime,
    end: datetime,
    view_id: str,
    filters: ConversationFilters,
    page_size: int | None = None,
) -> dict[str, Any]:
    """The contract's ConversationQuery (the `query` variable)."""
    size = page_size or settings.GENESYS_PAGE_SIZE
    if size < 1:
        raise ValueError(f"page_size must be at least 1, not {size}")
    return {
        "viewId": view_id,
        "dateRange": {"begin": _iso_utc(start), "end": _iso_utc(end)},
        # The source ORs filters on the same field and ANDs different fields; an empty
        # selection means "all", i.e. no filter on that field.
        "filter": [
            {"field": dimension.graphql, "operator": "eq", "value": value}
            for dimension, values in filters.selections()
            for value in values
        ],
        "pageSize": size,
    }


def _conversation_page(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise GenesysProtocolError(
            "The GraphQL source answered with something other than a JSON object: check that "
            "GENESYS_API_URL points at a server that speaks the project's GraphQL contract"
        )
    errors = body.get("errors")
    if errors:
        raise GraphQLError(_error_messages(errors))
    data = body.get("data")
    page = data.get("conversations") if isinstance(data, dict) else None
    if not isinstance(page, dict):
        raise GenesysProtocolError(
            "The GraphQL source answered without data.conversations: check that GENESYS_API_URL "
            "points at a server that speaks the project's GraphQL contract"
        )
    if not isinstance(page.get("items"), list):
        raise GenesysProtocolError("The GraphQL source answered a page without an items list")
    token = page.get("pageToken")
    if token is not None and not isinstance(token, str):
        raise GenesysProtocolError("The GraphQL source answered a pageToken that is not a string")
    return page


def _error_messages(errors: Any) -> list[str]:
    if not isinstance(errors, list):
        return [str(errors)[:300]]
    messages = []
    for error in errors:
        message = error.get("message") if isinstance(error, dict) else None
        messages.append(str(message if message is not None else error)[:300])
    return messages


def _iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
