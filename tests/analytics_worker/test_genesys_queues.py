"""The queue list: paged from Genesys, cached in Redis, never breaking the page."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any
from unittest import mock

import fakeredis
import pytest
import redis
import responses
from django.conf import LazySettings

from analytics_worker.genesys import clock, queues
from analytics_worker.genesys.auth import client_fingerprint
from analytics_worker.genesys.queues import queue_list
from analytics_worker.redis_client import redis_key
from genesys_sim import org, state

URL = "http://genesys.test/api/v2/routing/queues"


@pytest.fixture(autouse=True)
def genesys_settings(settings: LazySettings, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.GENESYS_API_URL = "http://genesys.test"
    settings.GENESYS_LOGIN_URL = "http://login.genesys.test"
    settings.GENESYS_CLIENT_ID = "test-client-id"
    settings.GENESYS_CLIENT_SECRET = "test-secret"
    settings.GENESYS_RATE_LIMIT_PER_MINUTE = 60_000
    monkeypatch.setattr(clock, "sleep", lambda seconds: None)  # the limiter's ~1 ms spacing


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(
            "http://login.genesys.test/oauth/token",
            json={"access_token": "tok-1", "expires_in": 86400},
        )
        yield mock


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


def test_it_lists_the_simulated_orgs_queues(live_server, settings, monkeypatch):
    settings.ROOT_URLCONF = "tests.genesys_sim.urls"
    settings.GENESYS_API_URL = settings.GENESYS_LOGIN_URL = f"{live_server.url}/sim"
    settings.GENESYS_CLIENT_ID = settings.GENESYS_SIM_CLIENT_ID
    settings.GENESYS_CLIENT_SECRET = settings.GENESYS_SIM_CLIENT_SECRET
    server = fakeredis.FakeRedis()
    monkeypatch.setattr(state, "redis_client", lambda: server)
    monkeypatch.setattr(queues, "PAGE_SIZE", 3)  # two pages
    expected = sorted((q.id, q.name) for q in org.QUEUES)
    assert sorted(queue_list()) == expected
    assert [name for _, name in queue_list()] == ["Billing", "Retention", "Sales", "Support"]
    assert state.request_count() == 2
