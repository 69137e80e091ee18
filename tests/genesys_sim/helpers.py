"""Helpers for the simulated org's tests (fixtures stay in conftest.py)."""

from __future__ import annotations

import base64
from typing import Any

TOKEN_URL = "/sim/oauth/token"
GRAPHQL_URL = "/sim/api/v2/analytics/graphql"

# The tutorial's query, field for field.
CONVERSATIONS_QUERY = """
query GetConversations($query: ConversationQuery, $pageToken: String) {
  conversations(query: $query, pageToken: $pageToken) {
    pageToken pageSize totalCount
    items {
      id type direction startTime endTime
      metrics { duration waitTime holdTime }
      participants { id type }
    }
  }
}
"""


def basic_header(client_id: str = "sim-client", secret: str = "sim-secret") -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def conversations_variables(
    begin: str = "2024-05-01T09:00:00Z",
    end: str = "2024-05-01T10:00:00Z",
    *,
    page_token: str | None = None,
    **query: Any,
) -> dict[str, Any]:
    return {
        "query": {"dateRange": {"begin": begin, "end": end}, **query},
        "pageToken": page_token,
    }
