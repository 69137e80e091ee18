"""OAuth client credentials: one token in Redis for every worker, refreshed under a lock."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import fakeredis
import pytest
import responses
import time_machine
from django.conf import LazySettings

from analytics_worker import redis_client
from analytics_worker.genesys.auth import access_token_drop, access_token_get, client_fingerprint
from analytics_worker.genesys.errors import GenesysAuthError, GenesysProtocolError
from analytics_worker.redis_client import redis_key

CLIENT_ID = "test-client-id"
CLIENT_SECRET = "test-secret-Zq9xW"
TOKEN_URL = "http://login.genesys.test/oauth/token"


@pytest.fixture(autouse=True)
def genesys_settings(settings: LazySettings) -> None:
    settings.GENESYS_API_URL = "http://genesys.test"
    settings.GENESYS_LOGIN_URL = "http://login.genesys.test"
    settings.GENESYS_CLIENT_ID = CLIENT_ID
    settings.GENESYS_CLIENT_SECRET = CLIENT_SECRET
    settings.GENESYS_HTTP_TIMEOUT = 5


@pytest.fixture
def http() -> Iterator[responses.RequestsMock]:
    # Any URL not registered fails with ConnectionError: no test reaches a real network.
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def token_body(token: str, expires_in: int = 86400) -> dict[str, object]:
    return {"access_token": token, "token_type": "bearer", "expires_in": expires_in}


def token_key() -> str:
    return redis_key("oauth", client_fingerprint())


def test_it_fetches_one_token_and_shares_it_through_redis(
    http: responses.RequestsMock, fake_redis: fakeredis.FakeRedis
) -> None:
    http.post(TOKEN_URL, json=token_body("tok-1"))

    assert access_token_get() == "tok-1"
    assert access_token_get() == "tok-1"

    assert len(http.calls) == 1
    assert fake_redis.get(token_key()) == b"tok-1"
    # Kept for expires_in minus the 60 s buffer.
    assert 86400 - 60 - 2 <= fake_redis.ttl(token_key()) <= 86400 - 60


def test_it_reuses_a_token_another_worker_stored(
    http: responses.RequestsMock, fake_redis: fakeredis.FakeRedis
) -> None:
    fake_redis.set(token_key(), "tok-from-another-worker", ex=600)

    assert access_token_get() == "tok-from-another-worker"
    assert len(http.calls) == 0


def test_it_sends_basic_auth_and_a_form_body_without_scope(http: responses.RequestsMock) -> None:
    http.post(TOKEN_URL, json=token_body("tok-1"))

    access_token_get()

    request = http.calls[0].request
    assert request.method == "POST"
    assert request.url == TOKEN_URL
    expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected}"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.body == "grant_type=client_credentials"
    assert request.req_kwargs["timeout"] == 5


def test_it_refreshes_60_seconds_before_expiry(http: responses.RequestsMock) -> None:
    http.post(TOKEN_URL, json=token_body("tok-1", expires_in=3600))
    http.post(TOKEN_URL, json=token_body("tok-2", expires_in=3600))

    with time_machine.travel(datetime(2025, 3, 1, 9, 0, tzinfo=UTC), tick=False) as traveller:
        assert access_token_get() == "tok-1"
        traveller.shift(3600 - 61)
        assert access_token_get() == "tok-1"
        traveller.shift(2)  # now 59 s before Genesys would expire it
        assert access_token_get() == "tok-2"

    assert len(http.calls) == 2


def test_it_fetches_one_token_for_concurrent_callers(http: responses.RequestsMock) -> None:
    def slow_token(request: object) -> tuple[int, dict[str, str], str]:
        time.sleep(0.3)  # long enough for every other thread to find the lock taken
        return 200, {}, json.dumps(token_body("tok-1"))

    http.add_callback(responses.POST, TOKEN_URL, callback=slow_token)
    start = threading.Barrier(4)
    tokens: list[str] = []

    def worker() -> None:
        start.wait()
        tokens.append(access_token_get())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert tokens == ["tok-1"] * 4
    assert len(http.calls) == 1


def test_it_raises_an_auth_error_naming_the_settings_on_401(
    http: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    http.post(
        TOKEN_URL,
        status=401,
        json={"error": "invalid_client", "description": "bad", "error_description": "bad"},
    )

    with pytest.raises(GenesysAuthError) as info:
        access_token_get()

    message = str(info.value)
    assert "GENESYS_CLIENT_ID" in message and "GENESYS_CLIENT_SECRET" in message
    assert CLIENT_SECRET not in message
    assert info.value.status == 401
    assert CLIENT_SECRET not in caplog.text


def test_it_explains_a_client_without_the_client_credentials_grant(
    http: responses.RequestsMock,
) -> None:
    http.post(TOKEN_URL, status=400, json={"error": "unauthorized_client"})

    with pytest.raises(GenesysAuthError, match="unauthorized_client.*Client Credentials grant"):
        access_token_get()


def test_it_refuses_an_answer_without_an_access_token(http: responses.RequestsMock) -> None:
    http.post(TOKEN_URL, json={"hello": "world"})

    with pytest.raises(GenesysProtocolError, match="GENESYS_LOGIN_URL"):
        access_token_get()


def test_it_drops_the_token_only_if_it_is_still_the_same(fake_redis: fakeredis.FakeRedis) -> None:
    fake_redis.set(token_key(), "tok-2")

    access_token_drop(only_if="tok-1")  # another worker already replaced tok-1: keep tok-2
    assert fake_redis.get(token_key()) == b"tok-2"

    access_token_drop(only_if="tok-2")
    assert fake_redis.get(token_key()) is None

    fake_redis.set(token_key(), "tok-3")
    access_token_drop()
    assert fake_redis.get(token_key()) is None


def test_it_keeps_a_per_process_token_while_redis_is_down(
    http: responses.RequestsMock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = fakeredis.FakeServer()
    server.connected = False  # every Redis call raises ConnectionError
    monkeypatch.setattr(redis_client, "_client", fakeredis.FakeRedis(server=server))
    monkeypatch.setattr("analytics_worker.genesys.auth._local_token", None)
    http.post(TOKEN_URL, json=token_body("tok-1"))

    assert access_token_get() == "tok-1"
    assert access_token_get() == "tok-1"

    assert len(http.calls) == 1
    assert "Redis is unavailable" in caplog.text
