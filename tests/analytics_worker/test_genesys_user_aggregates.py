"""The users aggregates query: the request it sends, and the routing-status times it reads from
either shape Genesys answers in (status as the qualifier, or grouped by routingStatus)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
import responses

from analytics_worker.genesys.errors import GenesysProtocolError
from analytics_worker.genesys.user_aggregates import MAX_USERS, user_status_query
from analytics_worker.normalize import user_status_values

URL = "http://genesys.test/api/v2/analytics/users/aggregates/query"
DAY = datetime(2024, 5, 1, tzinfo=UTC)


def query(**overrides):
    args = {
        "start": DAY,
        "end": DAY + timedelta(days=1),
        "granularity": "PT1H",
        "time_zone": "Europe/Paris",
        "user_ids": ["u-1", "u-2"],
    }
    return user_status_query(**{**args, **overrides})


def test_it_asks_for_the_agents_routing_status_times_by_user(api):
    api.post(URL, json={"results": []})
    assert query() == []
    [call] = [c for c in api.calls if c.request.url == URL]
    body = orjson.loads(call.request.body)
    assert body["groupBy"] == ["userId"] and body["metrics"] == ["tAgentRoutingStatus"]
    assert (body["granularity"], body["timeZone"]) == ("PT1H", "Europe/Paris")
    assert body["filter"] == {
        "type": "and",
        "clauses": [
            {
                "type": "or",
                "predicates": [
                    {"type": "dimension", "dimension": "userId", "operator": "matches", "value": u}
                    for u in ("u-1", "u-2")
                ],
            }
        ],
    }


def test_it_reads_the_status_from_the_qualifier_or_from_the_group(api):
    interval = "2024-05-01T00:00:00.000Z/2024-05-01T01:00:00.000Z"
    api.post(
        URL,
        json={
            "results": [
                {
                    "group": {"userId": "u-1"},
                    "data": [
                        {
                            "interval": interval,
                            "metrics": [
                                {
                                    "metric": "tAgentRoutingStatus",
                                    "qualifier": "IDLE",
                                    "stats": {"sum": 1_800_000},
                                },
                                {
                                    "metric": "tAgentRoutingStatus",
                                    "qualifier": "INTERACTING",
                                    "stats": {"sum": 1_500_000},
                                },
                                {
                                    "metric": "tAgentRoutingStatus",
                                    "qualifier": "OFF_QUEUE",
                                    "stats": {"sum": 300_000},
                                },
                            ],
                        }
                    ],
                },
                {
                    "group": {"userId": "u-2", "routingStatus": "NOT_RESPONDING"},
                    "data": [
                        {
                            "interval": interval,
                            "metrics": [
                                {"metric": "tAgentRoutingStatus", "stats": {"sum": 60_000}}
                            ],
                        }
                    ],
                },
            ]
        },
    )
    first, second = query()
    assert (first.user_id, first.start) == ("u-1", DAY)
    values = user_status_values(first.status_ms)
    # Off queue is not on queue; occupancy's base is the on-queue time.
    assert values == {
        "on_queue_sum": 3300.0,
        "interacting_sum": 1500.0,
        "idle_sum": 1800.0,
        "not_responding_sum": 0.0,
    }
    assert second.status_ms == {"NOT_RESPONDING": 60_000}


def test_it_takes_at_most_a_hundred_agents_a_request(api):
    with pytest.raises(ValueError):
        query(user_ids=[f"u-{n}" for n in range(MAX_USERS + 1)])


def test_no_results_is_no_data_and_a_malformed_answer_a_protocol_error(api):
    # Genesys answers {} for an interval with no data at all.
    api.post(URL, json={})
    assert query() == []
    api.replace(responses.POST, URL, json={"results": {"u-1": 5}})
    with pytest.raises(GenesysProtocolError):
        query()
