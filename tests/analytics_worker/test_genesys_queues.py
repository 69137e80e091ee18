"""The queue list: paged from Genesys, cached in Redis, never breaking the page."""

from __future__ import annotations

import logging
from typing import Any
from unittest import mock

import pytest
import redis
import responses

from analytics_worker.genesys import entities, queues
from analytics_worker.genesys.auth import client_fingerprint
from analytics_worker.genesys.queues import queue_list
from analytics_worker.redis_client import redis_key
from genesys_sim import org

pytestmark = pytest.mark.usefixtures("fake_genesys")
URL = "http://genesys.test/api/v2/routing/queues"


def queue_calls(mock: responses.RequestsMock) -> list[str]:
    return [c.request.url for c in mock.calls if c.request.url.startswith(URL)]


def page(number: int, names: list[str], page_count: int = 3) -> dict[str, Any]:
    return {
        "entities": [{"id": f"q-{name.lower()}", "name": name} for name in names],
        "pageSize": 100,
        "pageNumber": number,
        "pageCount": page_count,
        "total": 5,
    }


def test_it_reads_every_page_and_sorts_by_name(api):
    for number, names in ((1, ["Support", "billing"]), (2, ["Sales", "Retention"]), (3, ["VIP"])):
        api.get(
            URL,
            json=page(number, names),
            match=[
                responses.matchers.query_param_matcher({"pageSize": "100", "pageNumber": number})
            ],
        )
    assert queue_list() == [
        ("q-billing", "billing"),
        ("q-retention", "Retention"),
        ("q-sales", "Sales"),
        ("q-support", "Support"),
        ("q-vip", "VIP"),
    ]
    assert len(queue_calls(api)) == 3


def test_it_is_cached_for_ten_minutes(api, fake_redis):
    api.get(URL, json=page(1, ["Sales"], page_count=1))
    assert queue_list() == [("q-sales", "Sales")]
    assert queue_list() == [("q-sales", "Sales")]
    assert len(queue_calls(api)) == 1
    assert 590 < fake_redis.ttl(redis_key("queues", client_fingerprint())) <= 600


def test_a_genesys_error_gives_an_empty_list_for_a_minute(api, fake_redis, caplog):
    api.get(
        URL,
        status=403,
        json={"message": "Missing permission routing:queue:view", "code": "missing.permissions"},
    )
    with caplog.at_level(logging.WARNING, logger=queues.__name__):
        assert queue_list() == []
    assert "routing:queue:view" in caplog.text
    assert queue_list() == []
    assert len(queue_calls(api)) == 1
    assert 50 < fake_redis.ttl(redis_key("queues", client_fingerprint())) <= 60


def test_without_redis_it_gives_an_empty_list(api, caplog):
    broken = mock.Mock(get=mock.Mock(side_effect=redis.ConnectionError("down")))
    with mock.patch.object(queues, "get_redis", return_value=broken):
        assert queue_list() == []
    assert "Redis is unavailable" in caplog.text
    assert queue_calls(api) == []


def test_it_lists_the_simulated_orgs_queues(sim, monkeypatch):
    monkeypatch.setattr(entities, "PAGE_SIZE", 3)  # two pages
    expected = sorted((q.id, q.name) for q in org.QUEUES)
    assert sorted(queue_list()) == expected
    assert [name for _, name in queue_list()] == ["Billing", "Retention", "Sales", "Support"]
    assert sim.stats_read()["requests"] == 2


def test_it_keeps_each_queues_service_level_goals_by_media_type(api) -> None:
    api.get(
        "http://genesys.test/api/v2/routing/queues",
        json={
            "entities": [
                {
                    "id": "q1",
                    "name": "Sales",
                    "mediaSettings": {
                        # Genesys names voice "call" here.
                        "call": {"serviceLevel": {"percentage": 0.8, "durationMs": 20000}},
                        "email": {"serviceLevel": {"percentage": 0.9, "durationMs": 14_400_000}},
                        "chat": {"alertingTimeoutSeconds": 30},
                    },
                }
            ],
            "pageCount": 1,
        },
    )
    assert queues.queue_list() == [("q1", "Sales")]
    assert queues.queue_service_levels_cached() == {
        "q1": {"voice": (0.8, 20000), "email": (0.9, 14_400_000)}
    }
