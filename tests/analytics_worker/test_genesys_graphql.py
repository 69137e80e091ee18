"""The `graphql` source (the project's own contract, not a Genesys API): paging and guards."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import requests
import responses
from django.conf import LazySettings

from analytics_worker.genesys.errors import GenesysProtocolError, GraphQLError
from analytics_worker.genesys.graphql import CONVERSATIONS_QUERY, graphql_conversation_pages
from analytics_worker.genesys.http import FetchProgress
from analytics_worker.reports import ReportSpec
from tests.analytics_worker.helpers import query_args

TOKEN_URL = "http://login.genesys.test/oauth/token"
GRAPHQL_URL = "http://genesys.test/api/v2/analytics/graphql"
START = datetime(2025, 3, 1, 0, 0, tzinfo=UTC)
END = datetime(2025, 3, 2, 0, 0, tzinfo=UTC)
ARGS = query_args(ReportSpec(start=START, end=END), "view_id")


@pytest.fixture(autouse=True)
def page_size(fake_genesys: None, settings: LazySettings) -> None:
    settings.GENESYS_PAGE_SIZE = 100


def graphql_bodies(mock: responses.RequestsMock) -> list[dict[str, Any]]:
    return [orjson.loads(c.request.body) for c in mock.calls if c.request.url == GRAPHQL_URL]


def page(items: list[dict[str, Any]], token: str | None) -> dict[str, Any]:
    return {
        "data": {
            "conversations": {
                "pageToken": token,
                "pageSize": 2,
                "totalCount": 5,
                "items": items,
            }
        }
    }


def serve_pages(mock: responses.RequestsMock, pages: dict[str | None, dict[str, Any]]) -> None:
    """Answer each request with the page for the pageToken variable it sent."""

    def reply(request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        token = orjson.loads(request.body)["variables"]["pageToken"]
        return 200, {}, orjson.dumps(pages[token])

    mock.add_callback(responses.POST, GRAPHQL_URL, callback=reply)


def test_it_follows_page_tokens_and_yields_each_page_as_it_arrives(
    api: responses.RequestsMock,
) -> None:
    serve_pages(
        api,
        {
            None: page([{"id": "c1"}, {"id": "c2"}], "t-2"),
            "t-2": page([{"id": "c3"}, {"id": "c4"}], "t-3"),
            "t-3": page([{"id": "c5"}], None),
        },
    )
    progress = FetchProgress()

    pages = graphql_conversation_pages(**ARGS, progress=progress)

    assert next(pages) == [{"id": "c1"}, {"id": "c2"}]
    assert len(graphql_bodies(api)) == 1  # the next page is asked for only when needed
    assert list(pages) == [[{"id": "c3"}, {"id": "c4"}], [{"id": "c5"}]]
    assert [b["variables"]["pageToken"] for b in graphql_bodies(api)] == [None, "t-2", "t-3"]
    assert progress.requests == 3


@pytest.mark.parametrize(
    ("selection", "expected_filter"),
    [
        ({}, []),
        (
            {"media_types": ("chat", "voice")},
            [
                {"field": "type", "operator": "eq", "value": "chat"},
                {"field": "type", "operator": "eq", "value": "voice"},
            ],
        ),
        (
            {"media_types": ("voice",), "directions": ("inbound",), "queue_ids": ("q-1", "q-2")},
            [
                {"field": "type", "operator": "eq", "value": "voice"},
                {"field": "direction", "operator": "eq", "value": "inbound"},
                {"field": "queueId", "operator": "eq", "value": "q-1"},
                {"field": "queueId", "operator": "eq", "value": "q-2"},
            ],
        ),
    ],
)
def test_it_sends_every_user_value_as_a_variable(
    api: responses.RequestsMock, selection: dict[str, tuple[str, ...]], expected_filter: list
) -> None:
    serve_pages(api, {None: page([], None)})
    spec = ReportSpec(start=START, end=END, view_id="support-view", **selection)

    list(graphql_conversation_pages(**query_args(spec, "view_id"), page_size=250))

    assert graphql_bodies(api) == [
        {
            "query": CONVERSATIONS_QUERY,
            "variables": {
                "query": {
                    "viewId": "support-view",
                    "dateRange": {"begin": "2025-03-01T00:00:00Z", "end": "2025-03-02T00:00:00Z"},
                    "filter": expected_filter,
                    "pageSize": 250,
                },
                "pageToken": None,
            },
        }
    ]
    assert "support-view" not in CONVERSATIONS_QUERY


def test_it_uses_the_page_size_setting_by_default(api: responses.RequestsMock) -> None:
    serve_pages(api, {None: page([], None)})

    list(graphql_conversation_pages(**ARGS))

    assert graphql_bodies(api)[0]["variables"]["query"]["pageSize"] == 100


def test_it_stops_when_a_page_token_repeats(api: responses.RequestsMock) -> None:
    serve_pages(
        api,
        {
            None: page([{"id": "c1"}], "t-2"),
            "t-2": page([{"id": "c2"}], "t-3"),
            "t-3": page([{"id": "c3"}], "t-2"),
        },
    )

    with pytest.raises(GenesysProtocolError, match="already given"):
        list(graphql_conversation_pages(**ARGS))
    assert len(graphql_bodies(api)) == 3


def test_it_stops_after_max_pages(api: responses.RequestsMock) -> None:
    serve_pages(api, {None: page([{"id": "a"}], "t-2"), "t-2": page([{"id": "b"}], "t-3")})

    with pytest.raises(GenesysProtocolError, match="more pages after 2 pages"):
        list(graphql_conversation_pages(**ARGS, max_pages=2))
    assert len(graphql_bodies(api)) == 2


def test_it_stops_after_max_items(api: responses.RequestsMock) -> None:
    serve_pages(
        api,
        {None: page([{"id": "a"}, {"id": "b"}], "t-2"), "t-2": page([{"id": "c"}], None)},
    )
    pages = graphql_conversation_pages(**ARGS, max_items=2)

    assert next(pages) == [{"id": "a"}, {"id": "b"}]
    with pytest.raises(GenesysProtocolError, match="more than 2 conversations"):
        next(pages)


def test_it_raises_the_graphql_errors(api: responses.RequestsMock) -> None:
    api.post(
        GRAPHQL_URL,
        json={
            "data": {"conversations": None},
            "errors": [{"message": "Invalid pageToken"}, {"message": "Unknown filter field"}],
        },
    )

    with pytest.raises(GraphQLError) as info:
        list(graphql_conversation_pages(**ARGS))

    assert info.value.messages == ["Invalid pageToken", "Unknown filter field"]
    assert "Invalid pageToken" in str(info.value)
    assert len(graphql_bodies(api)) == 1  # a GraphQL error is an answer: never retried


@pytest.mark.parametrize(
    "body",
    [{"data": {"conversations": None}}, {"data": None}, {}, [], {"data": {"conversations": {}}}],
)
def test_it_refuses_an_answer_without_conversations(
    api: responses.RequestsMock, body: object
) -> None:
    api.post(GRAPHQL_URL, json=body)

    with pytest.raises(GenesysProtocolError):
        list(graphql_conversation_pages(**ARGS))
