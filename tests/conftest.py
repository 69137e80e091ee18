from __future__ import annotations

from collections.abc import Iterator

import fakeredis
import pytest
import redis

from analytics_worker import redis_client

# Integration tests use a real Redis on a DB number of their own, flushed before and after.
REAL_REDIS_TEST_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture(autouse=True)
def fake_redis(monkeypatch: pytest.MonkeyPatch) -> fakeredis.FakeRedis:
    """Unit tests get a fresh fakeredis for the report cache, token and rate limiter."""
    client = fakeredis.FakeRedis()
    monkeypatch.setattr(redis_client, "_client", client)
    return client


@pytest.fixture
def real_redis(monkeypatch: pytest.MonkeyPatch) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REAL_REDIS_TEST_URL)
    client.flushdb()
    monkeypatch.setattr(redis_client, "_client", client)
    yield client
    client.flushdb()
