"""genesys_request: token, retries, error mapping and the shared rate limiter (HTTP faked)."""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime

import fakeredis
import orjson
import pytest
import requests
import responses
from django.conf import LazySettings

from analytics_worker import redis_client
from analytics_worker.genesys import clock, http
from analytics_worker.genesys.auth import client_fingerprint
from analytics_worker.genesys.errors import (
    GenesysAuthError,
    GenesysBadRequest,
    GenesysError,
    GenesysPermissionError,
    GenesysProtocolError,
    GenesysRateLimited,
    GenesysUnavailable,
)
from analytics_worker.genesys.http import FetchProgress, genesys_request
from analytics_worker.redis_client import redis_key

CLIENT_ID = "test-client-id"
CLIENT_SECRET = "test-secret-Zq9xW"
TOKEN_URL = "http://login.genesys.test/oauth/token"
PATH = "/api/v2/analytics/conversations/details/query"
URL = "http://genesys.test" + PATH
SECRETS = (
    CLIENT_SECRET,
    base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode(),
    "tok-1-secret",
    "tok-2-secret",
)
PERMISSION_BODY = {
    "message": "Unable to perform the requested action. You must have at least one of the "
    "following permissions assigned: [analytics:conversationDetail:view, "
    "analytics:agentConversationDetail:view]",
    "code": "missing.any.permissions",
    "status": 403,
    "contextId": "ctx-403",
    "details": [],
    "errors": [],
}


class FakeClock:
    """Wall clock that only moves when something sleeps: no test really waits."""

    def __init__(self) -> None:
        self.time = 1_750_000_000.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.time += seconds


@pytest.fixture(autouse=True)
def genesys_settings(settings: LazySettings) -> None:
    settings.GENESYS_API_URL = "http://genesys.test"
    settings.GENESYS_LOGIN_URL = "http://login.genesys.test"
    settings.GENESYS_CLIENT_ID = CLIENT_ID
    settings.GENESYS_CLIENT_SECRET = CLIENT_SECRET
    settings.GENESYS_HTTP_TIMEOUT = 5
    # Spacing of ~1 ms, so the limiter stays out of the way unless a test lowers the limit.
    settings.GENESYS_RATE_LIMIT_PER_MINUTE = 60_000


@pytest.fixture(autouse=True)
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(clock, "now", fake.now)
    monkeypatch.setattr(clock, "sleep", fake.sleep)
    # Backoff always takes its ceiling (2, 4, 8, ... s), so waits are exact.
    monkeypatch.setattr(http.random, "uniform", lambda low, high: high)
    return fake


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    """Fake Genesys: a token endpoint (tok-1, then tok-2) and whatever each test registers."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(TOKEN_URL, json={"access_token": "tok-1-secret", "expires_in": 86400})
        mock.post(TOKEN_URL, json={"access_token": "tok-2-secret", "expires_in": 86400})
        yield mock


def api_calls(mock: responses.RequestsMock) -> list[requests.PreparedRequest]:
    return [call.request for call in mock.calls if call.request.url != TOKEN_URL]


def token_calls(mock: responses.RequestsMock) -> int:
    return sum(1 for call in mock.calls if call.request.url == TOKEN_URL)


def big_sleeps(fake: FakeClock) -> list[float]:
    # Leave out the limiter's ~1 ms spacing.
    return [round(seconds, 3) for seconds in fake.sleeps if seconds > 0.01]


def send_times(
    mock: responses.RequestsMock, fake: FakeClock, method: str, body: str
) -> list[float]:
    """Answer `method` URL with `body`, noting the fake clock's time at each send."""
    sent_at: list[float] = []

    def record(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        sent_at.append(fake.now())
        return 200, {}, body

    mock.add_callback(method, URL, callback=record)
    return sent_at


class Waits:
    def __init__(self) -> None:
        self.calls: list[tuple[float, str]] = []

    def __call__(self, seconds: float, reason: str) -> None:
        self.calls.append((seconds, reason))


def test_it_sends_the_bearer_token_and_returns_the_json(api: responses.RequestsMock) -> None:
    api.post(URL, json={"totalHits": 0})
    progress = FetchProgress()

    body = genesys_request("POST", PATH, json={"interval": "x"}, progress=progress)

    assert body == {"totalHits": 0}
    (request,) = api_calls(api)
    assert request.headers["Authorization"] == "Bearer tok-1-secret"
    assert orjson.loads(request.body) == {"interval": "x"}
    assert request.req_kwargs["timeout"] == 5
    assert progress.requests == 1 and progress.retries == 0


def test_it_passes_query_parameters(api: responses.RequestsMock) -> None:
    api.get(URL, json={"ok": True})

    genesys_request("GET", PATH, params={"pageSize": 5})

    assert api_calls(api)[0].url == URL + "?pageSize=5"


def test_it_drops_a_rejected_token_and_retries_once(
    api: responses.RequestsMock, fake_redis: fakeredis.FakeRedis
) -> None:
    api.post(URL, status=401, json={"code": "bad.credentials", "status": 401})
    api.post(URL, json={"ok": True})

    assert genesys_request("POST", PATH) == {"ok": True}

    assert [r.headers["Authorization"] for r in api_calls(api)] == [
        "Bearer tok-1-secret",
        "Bearer tok-2-secret",
    ]
    assert token_calls(api) == 2
    assert fake_redis.get(redis_key("oauth", client_fingerprint())) == b"tok-2-secret"


def test_it_raises_an_auth_error_after_two_401s_without_leaking_secrets(
    api: responses.RequestsMock, fake_redis: fakeredis.FakeRedis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api.post(URL, status=401, json={"code": "bad.credentials", "status": 401})

    with pytest.raises(GenesysAuthError) as info:
        genesys_request("POST", PATH)

    assert len(api_calls(api)) == 2
    assert "GENESYS_CLIENT_ID" in str(info.value)
    for secret in SECRETS:
        assert secret not in str(info.value)
        assert secret not in caplog.text
    # The refused token is not left in Redis for the next worker.
    assert fake_redis.get(redis_key("oauth", client_fingerprint())) is None


def test_two_401s_do_not_blame_credentials_the_login_service_accepted(
    api: responses.RequestsMock,
) -> None:
    # A token revoked twice in a row, or an API host of another region than the login host:
    # the login service issued both tokens, so the client id and secret are not at fault.
    api.post(URL, status=401, json={"code": "bad.credentials", "status": 401})

    with pytest.raises(GenesysAuthError) as info:
        genesys_request("POST", PATH)

    assert token_calls(api) == 2
    message = str(info.value)
    assert "rejected the client credentials" not in message
    assert "credentials are fine" in message
    assert f"POST {PATH}" in message and "GENESYS_API_URL" in message


def test_it_waits_retry_after_seconds_on_429(
    api: responses.RequestsMock, fake_clock: FakeClock
) -> None:
    api.post(URL, status=429, headers={"Retry-After": "12"}, json={"status": 429})
    api.post(URL, json={"ok": True})
    waits = Waits()
    progress = FetchProgress(on_wait=waits)

    assert genesys_request("POST", PATH, progress=progress) == {"ok": True}

    assert big_sleeps(fake_clock) == [12.0]
    assert waits.calls == [(12.0, "Genesys rate limit (429): waiting 12 s")]
    assert progress.rate_limited == 1 and progress.retries == 1 and progress.requests == 2


def test_it_waits_until_a_retry_after_http_date(
    api: responses.RequestsMock, fake_clock: FakeClock
) -> None:
    when = datetime.fromtimestamp(fake_clock.time + 30, UTC)
    api.post(URL, status=429, headers={"Retry-After": format_datetime(when, usegmt=True)})
    api.post(URL, json={"ok": True})
    waits = Waits()

    genesys_request("POST", PATH, progress=FetchProgress(on_wait=waits))

    assert big_sleeps(fake_clock) == [30.0]
    assert waits.calls[0][1] == "Genesys rate limit (429): waiting 30 s"


def test_it_backs_off_through_a_run_of_503s(
    api: responses.RequestsMock, fake_clock: FakeClock
) -> None:
    for _ in range(3):
        api.post(URL, status=503, json={"code": "service.unavailable", "status": 503})
    api.post(URL, json={"ok": True})
    waits = Waits()
    progress = FetchProgress(on_wait=waits)

    assert genesys_request("POST", PATH, progress=progress) == {"ok": True}

    assert big_sleeps(fake_clock) == [2.0, 4.0, 8.0]  # full jitter, at its ceiling here
    assert waits.calls[0] == (2.0, "Genesys HTTP 503: retrying in 2 s")
    assert progress.retries == 3 and progress.requests == 4


@pytest.mark.parametrize(
    "failure", [requests.ConnectionError("refused"), requests.ReadTimeout("slow")]
)
def test_it_retries_connection_errors_and_timeouts(
    api: responses.RequestsMock, fake_clock: FakeClock, failure: Exception
) -> None:
    api.post(URL, body=failure)
    api.post(URL, json={"ok": True})

    assert genesys_request("POST", PATH) == {"ok": True}
    assert big_sleeps(fake_clock) == [2.0]


def test_it_gives_up_on_5xx_after_the_attempt_cap(
    api: responses.RequestsMock, fake_clock: FakeClock
) -> None:
    api.post(URL, status=502, body="<html>Bad gateway</html>")

    with pytest.raises(GenesysUnavailable, match="HTTP 502: <html>Bad gateway</html>"):
        genesys_request("POST", PATH)

    assert len(api_calls(api)) == http.MAX_ATTEMPTS
    assert big_sleeps(fake_clock) == [2.0, 4.0, 8.0, 16.0, 30.0]  # capped at 30 s


def test_it_gives_up_on_429_after_the_attempt_cap(
    api: responses.RequestsMock, fake_clock: FakeClock
) -> None:
    api.post(URL, status=429, headers={"Retry-After": "5"}, json={"status": 429})
    progress = FetchProgress()

    with pytest.raises(GenesysRateLimited, match="GENESYS_RATE_LIMIT_PER_MINUTE"):
        genesys_request("POST", PATH, progress=progress)

    assert len(api_calls(api)) == http.MAX_ATTEMPTS
    assert progress.rate_limited == http.MAX_ATTEMPTS


def test_it_gives_up_at_once_when_retry_after_exceeds_the_budget(
    api: responses.RequestsMock, fake_clock: FakeClock
) -> None:
    api.post(URL, status=429, headers={"Retry-After": "600"}, json={"status": 429})

    with pytest.raises(GenesysRateLimited) as info:
        genesys_request("POST", PATH)

    assert info.value.retry_after == 600
    assert len(api_calls(api)) == 1
    assert big_sleeps(fake_clock) == []
    # ...and every other worker fails fast too instead of sleeping ten minutes.
    with pytest.raises(GenesysRateLimited, match="pause"):
        genesys_request("POST", PATH)
    assert len(api_calls(api)) == 1


def test_it_does_not_retry_a_400_and_shows_the_genesys_message(
    api: responses.RequestsMock,
) -> None:
    api.post(
        URL,
        status=400,
        json={
            "messageWithParams": "Invalid value for {field}",
            "messageParams": {"field": "interval"},
            "code": "invalid.value",
            "status": 400,
            "contextId": "ctx-400",
        },
    )

    with pytest.raises(GenesysBadRequest, match="Invalid value for interval") as info:
        genesys_request("POST", PATH)

    assert len(api_calls(api)) == 1
    assert (info.value.status, info.value.code, info.value.context_id) == (
        400,
        "invalid.value",
        "ctx-400",
    )


def test_it_does_not_retry_a_403_and_names_the_missing_permission(
    api: responses.RequestsMock, fake_clock: FakeClock
) -> None:
    api.post(URL, status=403, json=PERMISSION_BODY)

    with pytest.raises(GenesysPermissionError) as info:
        genesys_request("POST", PATH)

    assert "analytics:conversationDetail:view" in str(info.value)
    assert info.value.code == "missing.any.permissions"
    assert len(api_calls(api)) == 1
    assert big_sleeps(fake_clock) == []


def test_it_does_not_retry_a_404(api: responses.RequestsMock) -> None:
    api.post(URL, status=404, json={"message": "not found", "code": "not.found"})

    with pytest.raises(GenesysError, match="HTTP 404: not found.*GENESYS_API_URL"):
        genesys_request("POST", PATH)
    assert len(api_calls(api)) == 1


def test_it_retries_malformed_json_then_raises_a_protocol_error(
    api: responses.RequestsMock,
) -> None:
    api.post(URL, body='{"conversations": [{"conv', content_type="application/json")

    with pytest.raises(GenesysProtocolError, match="malformed JSON 3 times"):
        genesys_request("POST", PATH)
    assert len(api_calls(api)) == http.MALFORMED_JSON_ATTEMPTS


def test_it_recovers_from_one_truncated_response(api: responses.RequestsMock) -> None:
    api.post(URL, body='{"conversations": [', content_type="application/json")
    api.post(URL, json={"ok": True})

    assert genesys_request("POST", PATH) == {"ok": True}


def test_it_spaces_requests_at_60_over_the_limit(
    api: responses.RequestsMock, fake_clock: FakeClock, settings: LazySettings
) -> None:
    settings.GENESYS_RATE_LIMIT_PER_MINUTE = 60
    sent_at = send_times(api, fake_clock, responses.GET, "{}")

    for _ in range(70):  # each call is a separate "worker": they share only Redis
        genesys_request("GET", PATH)

    gaps = [later - earlier for earlier, later in zip(sent_at, sent_at[1:], strict=False)]
    assert min(gaps) == pytest.approx(60 / 60 * http.RATE_LIMIT_SAFETY)
    # However the 60-second window is placed, Genesys sees at most `limit` requests in it.
    assert max(sum(1 for t in sent_at if start <= t < start + 60) for start in sent_at) <= 60


def test_concurrent_workers_never_share_a_slot(
    fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch, settings: LazySettings
) -> None:
    settings.GENESYS_RATE_LIMIT_PER_MINUTE = 60
    waits: list[float] = []
    # The clock stands still, so each reservation's wait is exactly its slot's distance from now.
    monkeypatch.setattr(clock, "sleep", waits.append)

    def worker() -> None:
        for _ in range(10):
            http._slot_reserve(FetchProgress())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    spacing = 60 / 60 * http.RATE_LIMIT_SAFETY
    # 80 reservations, 80 distinct slots (the first one needs no wait).
    assert sorted(waits) == pytest.approx([k * spacing for k in range(1, 80)])


def test_a_429_pauses_every_worker_until_retry_after(
    api: responses.RequestsMock, fake_clock: FakeClock
) -> None:
    api.post(URL, status=429, headers={"Retry-After": "20"}, json={"status": 429})
    api.post(URL, json={"ok": True})
    worker_b_waits = Waits()

    def worker_b_runs_while_a_waits(seconds: float, reason: str) -> None:
        # Called just before worker A sleeps off its 429: the clock has not moved yet, so
        # worker B (another call, sharing only Redis) starts right inside A's pause.
        genesys_request("POST", PATH, progress=FetchProgress(on_wait=worker_b_waits))

    genesys_request("POST", PATH, progress=FetchProgress(on_wait=worker_b_runs_while_a_waits))

    seconds, reason = worker_b_waits.calls[0]
    assert seconds == pytest.approx(20.0)
    assert reason == "Genesys rate limit (429): all workers paused, waiting 20 s"
    pause_key = redis_key("ratelimit", client_fingerprint(), "paused_until")
    assert redis_client.get_redis().get(pause_key) is not None


def test_a_429_during_a_pacing_wait_holds_the_booked_request_too(
    api: responses.RequestsMock, fake_clock: FakeClock, settings: LazySettings
) -> None:
    settings.GENESYS_RATE_LIMIT_PER_MINUTE = 60
    sent_at = send_times(api, fake_clock, responses.POST, '{"ok": true}')
    genesys_request("POST", PATH)
    start = fake_clock.now()
    waits = Waits()

    def another_worker_gets_a_429(seconds: float, reason: str) -> None:
        waits(seconds, reason)
        if len(waits.calls) == 1:
            # This request booked the next slot (1.02 s ahead) before that 429 came back.
            http._pause_all(start + 20)

    genesys_request("POST", PATH, progress=FetchProgress(on_wait=another_worker_gets_a_429))

    assert sent_at[1] >= start + 20
    assert waits.calls[1][1].startswith("Genesys rate limit (429): all workers paused")


def test_a_pause_known_when_booking_is_not_waited_out_twice(
    api: responses.RequestsMock,
    fake_clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    settings: LazySettings,
) -> None:
    settings.GENESYS_RATE_LIMIT_PER_MINUTE = 60  # booking again would cost a visible 1.02 s
    sent_at = send_times(api, fake_clock, responses.POST, '{"ok": true}')
    genesys_request("POST", PATH)  # the token, fetched before the pause
    http._pause_all(fake_clock.now() + 20)

    def sleep_a_little_short(seconds: float) -> None:
        # time.sleep against a wall clock that NTP slews: it may wake a hair early.
        fake_clock.time += seconds - 0.001

    monkeypatch.setattr(clock, "sleep", sleep_a_little_short)
    waits = Waits()
    genesys_request("POST", PATH, progress=FetchProgress(on_wait=waits))

    assert len(waits.calls) == 1, waits.calls
    assert sent_at[1] == pytest.approx(sent_at[0] + 20, abs=0.01)


def test_it_still_works_without_redis(
    api: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    server = fakeredis.FakeServer()
    server.connected = False  # every Redis call raises ConnectionError
    monkeypatch.setattr(redis_client, "_client", fakeredis.FakeRedis(server=server))
    monkeypatch.setattr("analytics_worker.genesys.auth._local_token", None)
    api.post(URL, json={"ok": True})

    assert genesys_request("POST", PATH) == {"ok": True}
    assert "rate limiter" in caplog.text


def test_secrets_never_reach_logs_errors_or_wait_reasons(
    api: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api.post(URL, status=401, json={"status": 401})
    api.post(URL, status=429, headers={"Retry-After": "3"}, json={"status": 429})
    api.post(URL, status=503, json={"status": 503})
    api.post(URL, body=requests.ConnectionError("refused"))
    api.post(URL, body="{truncated", content_type="application/json")
    api.post(URL, json={"ok": True})
    api.post(URL, status=400, json={"message": "bad interval"})
    api.post(URL, status=403, json=PERMISSION_BODY)
    waits = Waits()
    texts: list[str] = []

    genesys_request("POST", PATH, progress=FetchProgress(on_wait=waits))
    for _ in range(2):
        with pytest.raises(GenesysError) as info:
            genesys_request("POST", PATH)
        texts.append(str(info.value))

    # One log line per retry: 401 (new token), 429, 503, connection error, malformed JSON.
    assert len([r for r in caplog.records if "retry" in r.getMessage()]) == 5
    texts += [caplog.text, *(reason for _, reason in waits.calls)]
    for text in texts:
        for secret in SECRETS:
            assert secret not in text
        assert "Bearer" not in text and "Authorization" not in text


def test_a_deadline_stops_a_retry_that_would_end_past_it(
    api: responses.RequestsMock, fake_clock: FakeClock
) -> None:
    api.post(URL, status=429, headers={"Retry-After": "30"}, json={"status": 429})
    api.post(URL, json={"ok": True})
    progress = FetchProgress(deadline=time.monotonic() + 5)

    with pytest.raises(GenesysRateLimited):
        genesys_request("POST", PATH, progress=progress)

    assert len(api_calls(api)) == 1
    assert big_sleeps(fake_clock) == []


def test_a_deadline_bounds_each_request_timeout(api: responses.RequestsMock) -> None:
    api.post(URL, json={"ok": True})

    genesys_request("POST", PATH, progress=FetchProgress(deadline=time.monotonic() + 2))

    assert 1 < api_calls(api)[0].req_kwargs["timeout"] <= 2


def test_a_deadline_stops_a_pacing_wait_that_would_end_past_it(
    api: responses.RequestsMock, fake_clock: FakeClock, settings: LazySettings
) -> None:
    settings.GENESYS_RATE_LIMIT_PER_MINUTE = 1  # one slot a minute
    api.post(URL, json={"ok": True})
    progress = FetchProgress(deadline=time.monotonic() + 10)
    genesys_request("POST", PATH, progress=progress)

    with pytest.raises(GenesysRateLimited, match="time budget"):
        genesys_request("POST", PATH, progress=progress)

    assert len(api_calls(api)) == 1
    assert big_sleeps(fake_clock) == []


def test_a_prefetch_request_never_holds_a_slot_ahead_of_a_person(
    fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch, settings: LazySettings
) -> None:
    # Beat's prefetch booked slots ahead like any request, so the workers took the budget in
    # turn and a supervisor's report waited behind every prefetch (bench "contention": 3x).
    settings.GENESYS_RATE_LIMIT_PER_MINUTE = 300
    spacing = 60 / 300 * http.RATE_LIMIT_SAFETY
    person: dict[str, float] = {}

    def sleep(seconds: float) -> None:
        if not person:  # the prefetch's first wait: a person's request comes in meanwhile
            person["asked"] = fake_clock.now()
            http._slot_reserve(FetchProgress())
            person["sent"] = fake_clock.now()
        fake_clock.sleep(seconds)

    monkeypatch.setattr(clock, "sleep", sleep)
    http._slot_reserve(FetchProgress(background=True))  # sent at once: the budget was idle
    http._slot_reserve(FetchProgress(background=True))  # must wait a slot
    prefetch_sent = fake_clock.now()

    # The person's request takes the slot right after the one already sent...
    assert person["sent"] - person["asked"] == pytest.approx(spacing)
    # ...and the prefetch holds back while the person's fetch may still send more.
    assert prefetch_sent >= person["sent"] + http.FOREGROUND_HOLD_SECONDS


def test_prefetch_alone_uses_the_whole_budget(
    fake_clock: FakeClock, settings: LazySettings
) -> None:
    settings.GENESYS_RATE_LIMIT_PER_MINUTE = 300
    sent_at = []
    for _ in range(20):
        http._slot_reserve(FetchProgress(background=True))
        sent_at.append(fake_clock.now())

    gaps = [later - earlier for earlier, later in zip(sent_at, sent_at[1:], strict=False)]
    assert gaps == pytest.approx([60 / 300 * http.RATE_LIMIT_SAFETY] * 19)
