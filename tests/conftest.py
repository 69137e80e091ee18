from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from unittest import mock

import fakeredis
import pytest
import redis
import responses

from analytics_worker import redis_client
from tests.helpers import (
    FAKE_GENESYS_API,
    FAKE_GENESYS_TOKEN_URL,
    REAL_REDIS_TEST_URL,
    PolledClientHandler,
)


@pytest.fixture(autouse=True)
def polled_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test client serves the polled URLs as production does (dashboard.polled)."""
    import django.test.client

    monkeypatch.setattr(django.test.client, "ClientHandler", PolledClientHandler)


@pytest.fixture(autouse=True)
def fake_redis(monkeypatch: pytest.MonkeyPatch) -> fakeredis.FakeRedis:
    """Unit tests get a fresh fakeredis for the report cache, token and rate limiter."""
    client = fakeredis.FakeRedis()
    monkeypatch.setattr(redis_client, "_client", client)
    return client


@pytest.fixture
def redis_down(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every Redis command fails with a connection error, as with a stopped server."""
    server = fakeredis.FakeServer()
    server.connected = False
    monkeypatch.setattr(redis_client, "_client", fakeredis.FakeRedis(server=server))


@pytest.fixture
def real_redis(monkeypatch: pytest.MonkeyPatch) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REAL_REDIS_TEST_URL)
    client.flushdb()
    monkeypatch.setattr(redis_client, "_client", client)
    yield client
    client.flushdb()


@pytest.fixture
def fake_genesys(settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the client at a fake Genesys that `responses` answers, limiter out of the way."""
    from analytics_worker.genesys import clock

    settings.GENESYS_API_URL = FAKE_GENESYS_API
    settings.GENESYS_LOGIN_URL = "http://login.genesys.test"
    settings.GENESYS_CLIENT_ID = "test-client-id"
    settings.GENESYS_CLIENT_SECRET = "test-secret"
    settings.GENESYS_RATE_LIMIT_PER_MINUTE = 60_000
    monkeypatch.setattr(clock, "sleep", lambda seconds: None)  # the limiter's ~1 ms spacing


@pytest.fixture
def api(fake_genesys: None) -> Iterator[responses.RequestsMock]:
    """The fake Genesys: a token endpoint, plus whatever each test registers."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(FAKE_GENESYS_TOKEN_URL, json={"access_token": "tok-1", "expires_in": 86400})
        yield mock


@pytest.fixture
def sim(live_server, settings, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The client talks HTTP to the simulated org, served by a live server thread, whose state
    (rate limits, counters) lives in a fakeredis of its own."""
    from genesys_sim import state

    settings.ROOT_URLCONF = "tests.genesys_sim.urls"
    settings.GENESYS_API_URL = settings.GENESYS_LOGIN_URL = f"{live_server.url}/sim"
    settings.GENESYS_CLIENT_ID = settings.GENESYS_SIM_CLIENT_ID
    settings.GENESYS_CLIENT_SECRET = settings.GENESYS_SIM_CLIENT_SECRET
    settings.GENESYS_SIM_RATE_LIMIT_PER_MINUTE = 60_000
    server = fakeredis.FakeRedis()
    monkeypatch.setattr(state, "redis_client", lambda: server)
    return state


@pytest.fixture
def enqueued() -> Iterator[mock.MagicMock]:
    """Capture enqueued fetches instead of sending them to a broker (tests.helpers.enqueued_jobs
    lists them)."""
    from analytics_worker.tasks import fetch_report_task

    with mock.patch.object(fetch_report_task, "apply_async", autospec=True) as apply_async:
        yield apply_async
