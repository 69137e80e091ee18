from __future__ import annotations

import base64
from typing import Any

import fakeredis
import pytest
from django.test import Client

from genesys_sim import state

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


@pytest.fixture(autouse=True)
def sim_urls(settings) -> None:
    settings.ROOT_URLCONF = "tests.genesys_sim.urls"


@pytest.fixture(autouse=True)
def sim_redis(monkeypatch: pytest.MonkeyPatch) -> fakeredis.FakeRedis:
    """Every test gets an empty Redis of its own."""
    server = fakeredis.FakeRedis()
    monkeypatch.setattr(state, "redis_client", lambda: server)
    return server


def basic_header(client_id: str = "sim-client", secret: str = "sim-secret") -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


@pytest.fixture
def token(client: Client) -> str:
    response = client.post(
        TOKEN_URL, {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=basic_header()
    )
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


@pytest.fixture
def graphql(client: Client, token: str):
    """POST a GraphQL request with a valid token; returns the Django response."""

    def post(
        variables: dict[str, Any] | None = None,
        *,
        query: str = CONVERSATIONS_QUERY,
        headers: dict[str, str] | None = None,
        bearer: str | None = None,
    ):
        return client.post(
            GRAPHQL_URL,
            {"query": query, "variables": variables or {}},
            content_type="application/json",
            headers={"Authorization": f"Bearer {bearer or token}", **(headers or {})},
        )

    return post


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
