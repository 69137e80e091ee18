from __future__ import annotations

from typing import Any

import fakeredis
import pytest
from django.test import Client

from genesys_sim import state
from tests.genesys_sim.helpers import CONVERSATIONS_QUERY, GRAPHQL_URL, TOKEN_URL, basic_header
from tests.genesys_sim.rest_helpers import (  # noqa: F401 (fixtures of the REST tests)
    aggregates,
    details,
    details_all,
    quiet_org,
)


@pytest.fixture(autouse=True)
def sim_urls(settings) -> None:
    settings.ROOT_URLCONF = "tests.genesys_sim.urls"


@pytest.fixture(autouse=True)
def sim_redis(monkeypatch: pytest.MonkeyPatch) -> fakeredis.FakeRedis:
    """Every test gets an empty Redis of its own."""
    server = fakeredis.FakeRedis()
    monkeypatch.setattr(state, "redis_client", lambda: server)
    return server


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
