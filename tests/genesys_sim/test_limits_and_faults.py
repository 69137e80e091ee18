from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import orjson
import pytest

from genesys_sim import decorators, state
from genesys_sim.faults import FaultSpecError, parse_faults
from tests.genesys_sim.helpers import GRAPHQL_URL, conversations_variables

# Inside a minute, far from its edges, so a fixed window never turns mid-test.
NOW = datetime(2030, 1, 1, 12, 0, 15, tzinfo=UTC)


def assert_genesys_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"message", "code", "status", "contextId", "details", "errors"}
    assert (body["code"], body["status"], body["details"], body["errors"]) == (code, status, [], [])
    assert response["ININ-Correlation-Id"] == body["contextId"]
    return body


@pytest.fixture(autouse=True)
def frozen_clock(time_machine) -> None:
    # Autouse, so the clock is set before the token fixture asks for a token.
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def bearer(token: str) -> dict[str, str]:
    """The headers the control endpoints need: a token of the simulated org."""
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def ask(graphql):
    """One small, valid GraphQL request, optionally with a fault header."""

    def post(fault: str | None = None):
        headers = {"X-Sim-Fault": fault} if fault else None
        return graphql(conversations_variables(end="2024-05-01T09:01:00Z"), headers=headers)

    return post


def test_it_limits_requests_per_client_per_minute(ask, settings):
    settings.GENESYS_SIM_RATE_LIMIT_PER_MINUTE = 5
    for _ in range(5):
        assert ask().status_code == 200
    response = ask()
    body = assert_genesys_error(response, 429, "too.many.requests.retry.after")
    assert response["Retry-After"] == "45"  # until 12:01:00
    assert body["message"] == "Rate limit exceeded the maximum. Retry the request in [45] seconds"
    assert state.stats_read()["requests"] == 6
    assert state.stats_read()["by_status"] == {"200": 5, "429": 1}


def test_it_frees_the_budget_when_the_minute_turns(ask, settings, time_machine):
    settings.GENESYS_SIM_RATE_LIMIT_PER_MINUTE = 1
    assert ask().status_code == 200
    assert ask().status_code == 429
    time_machine.move_to(NOW + timedelta(seconds=45), tick=False)
    assert ask().status_code == 200


def test_it_does_not_limit_token_requests(client, settings):
    settings.GENESYS_SIM_RATE_LIMIT_PER_MINUTE = 1
    for _ in range(3):
        response = client.post(
            "/sim/oauth/token?grant_type=client_credentials&client_id=sim-client"
            "&client_secret=sim-secret"
        )
        assert response.status_code == 200
    assert state.stats_read()["requests"] == 0
    assert state.stats_read()["token_requests"] == {"200": 3}


def test_it_injects_a_429_with_retry_after(ask):
    response = ask("429")
    assert_genesys_error(response, 429, "too.many.requests.retry.after")
    assert response["Retry-After"] == "1"
    response = ask("429:7")
    assert response["Retry-After"] == "7"
    assert "[7] seconds" in response.json()["message"]


def test_it_injects_a_429_with_an_http_date(ask):
    response = ask("429date:30")
    assert_genesys_error(response, 429, "too.many.requests.retry.after")
    retry_at = parsedate_to_datetime(response["Retry-After"])
    assert abs(retry_at.timestamp() - time.time() - 30) <= 1


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("500", "internal.server.error"),
        ("502", "bad.gateway"),
        ("503", "service.unavailable"),
        ("504", "request.timeout"),
    ],
)
def test_it_injects_server_errors(ask, fault, code):
    assert_genesys_error(ask(fault), int(fault), code)
    assert state.stats_read()["by_client"]["sim-client"] == 1


def test_it_injects_a_slow_answer(ask):
    started = time.monotonic()
    response = ask("slow:0.05")
    assert time.monotonic() - started >= 0.05
    assert response.status_code == 200 and response.json()["data"]


def test_it_injects_malformed_json(ask):
    response = ask("malformed")
    assert response.status_code == 200
    assert response.content
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(response.content)


def test_it_injects_an_expired_token(ask):
    assert_genesys_error(ask("expire"), 401, "bad.credentials")
    assert ask().status_code == 200  # the token itself is still good


def test_it_injects_a_dropped_answer_as_an_empty_body(ask):
    response = ask("drop")
    assert response.status_code == 200 and response.content == b""


def test_it_refuses_an_unreadable_fault_header(ask):
    body = assert_genesys_error(ask("explode"), 400, "bad.request")
    assert "explode" in body["message"]


def test_it_queues_faults_from_the_settings_once_across_requests(ask, settings):
    settings.GENESYS_SIM_FAULTS = "500x2,429:3"
    assert [ask().status_code for _ in range(4)] == [500, 500, 429, 200]


def test_it_queues_faults_posted_to_faults(client, ask, bearer):
    response = client.post(
        "/sim/_faults", {"faults": "503,expire"}, content_type="application/json", headers=bearer
    )
    assert response.json() == {"faults": ["503", "expire"]}
    # A header fault is for its own request only and leaves the queue alone.
    assert ask("504").status_code == 504
    assert [ask().status_code for _ in range(3)] == [503, 401, 200]
    assert client.get("/sim/_faults", headers=bearer).json() == {"faults": []}
    response = client.post(
        "/sim/_faults", {"faults": "boom"}, content_type="application/json", headers=bearer
    )
    assert response.status_code == 400 and "boom" in response.json()["error"]


def test_it_reads_fault_specs():
    assert [str(f) for f in parse_faults("429x2, slow=1.5,429date:2,drop")] == [
        "429:1",
        "429:1",
        "slow:1.5",
        "429date:2",
        "drop",
    ]
    assert parse_faults("") == []
    for bad in ("teapot", "500:3", "slow", "429:1.5", "500x0", "500x1000001"):
        with pytest.raises(FaultSpecError):
            parse_faults(bad)


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("slow:61", "slow takes at most 60 seconds"),
        ("slow:86400x8", "slow takes at most 60 seconds"),
        ("429:601", "429 takes at most 600 seconds"),
        ("429date:3600", "429date takes at most 600 seconds"),
        ("500x1001", "repeat count must be 1 to 1000"),
        ("500x600,503x401", "at most 1000 faults"),
    ],
)
def test_every_fault_is_bounded(spec, says):
    with pytest.raises(FaultSpecError, match=says):
        parse_faults(spec)
    assert len(parse_faults("slow:60,429:600x999")) == 1000


def test_a_fault_needs_a_valid_token_first(client, monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(decorators.time, "sleep", slept.append)
    for bearer in ("", "Bearer forged"):
        response = client.post(
            GRAPHQL_URL,
            {"query": "{ __typename }"},
            content_type="application/json",
            headers={"Authorization": bearer, "X-Sim-Fault": "slow:30"},
        )
        assert response.status_code == 401
    # Queued faults wait for an authenticated request too.
    state.faults_replace(parse_faults("500"))
    assert client.post(GRAPHQL_URL, content_type="application/json").status_code == 401
    assert slept == [] and state.faults_pending() == ["500"]


def test_a_slow_answer_spends_the_rate_budget_first(ask, settings, monkeypatch):
    settings.GENESYS_SIM_RATE_LIMIT_PER_MINUTE = 1
    slept: list[float] = []
    monkeypatch.setattr(decorators.time, "sleep", slept.append)
    assert ask("slow:2").status_code == 200
    assert ask("slow:2").status_code == 429
    assert slept == [2.0]


def test_with_fault_injection_off_it_refuses_the_fault_header(ask, settings):
    settings.GENESYS_SIM_FAULTS_ENABLED = False
    state.faults_replace(parse_faults("500"))
    body = assert_genesys_error(ask("slow:30"), 403, "not.authorized")
    assert "GENESYS_SIM_FAULTS_ENABLED=true" in body["message"]
    # Nor does it serve what was queued: an ordinary answer.
    assert ask().status_code == 200


CONTROL = [("get", "/sim/_stats"), ("post", "/sim/_reset"), ("get", "/sim/_faults")]


@pytest.mark.parametrize(("method", "path"), CONTROL)
def test_the_control_endpoints_need_a_token(client, method, path):
    for headers in ({}, {"Authorization": "Bearer forged"}):
        response = getattr(client, method)(path, headers=headers)
        assert response.status_code == 401, response.content


@pytest.mark.parametrize(("method", "path"), CONTROL)
def test_the_control_endpoints_are_off_with_fault_injection(client, bearer, settings, method, path):
    settings.GENESYS_SIM_FAULTS_ENABLED = False
    response = getattr(client, method)(path, headers=bearer)
    body = assert_genesys_error(response, 403, "not.authorized")
    assert "GENESYS_SIM_FAULTS_ENABLED=true" in body["message"]
    response = client.post(
        "/sim/_faults", {"faults": "slow:30"}, content_type="application/json", headers=bearer
    )
    assert response.status_code == 403 and state.faults_pending() == []


def test_it_counts_requests_and_resets(client, ask, settings, bearer):
    settings.GENESYS_SIM_RATE_LIMIT_PER_MINUTE = 2
    assert [ask().status_code for _ in range(3)] == [200, 200, 429]
    stats = client.get("/sim/_stats", headers=bearer).json()
    assert stats["requests"] == 3
    assert stats["by_status"] == {"200": 2, "429": 1}
    assert stats["by_client"] == {"sim-client": 3}
    assert state.stats_read()["by_client"]["sim-client"] == 3

    assert client.post("/sim/_reset", headers=bearer).json() == {"reset": True}
    assert client.get("/sim/_stats", headers=bearer).json()["requests"] == 0
    assert ask().status_code == 200  # the rate budget is full again


AGGREGATES_URL = "/sim/api/v2/analytics/conversations/aggregates/query"


def test_one_query_may_span_at_most_the_interval_cap(client, bearer, graphql, settings):
    settings.GENESYS_SIM_MAX_INTERVAL_DAYS = 10
    served = graphql(conversations_variables("2024-05-01T00:00:00Z", "2024-05-11T00:00:00Z"))
    assert served.status_code == 200 and "errors" not in served.json(), served.content
    too_long = graphql(conversations_variables("2024-05-01T00:00:00Z", "2024-05-11T00:00:01Z"))
    message = too_long.json()["errors"][0]["message"]
    assert message == (
        "invalid dateRange: at most 10 days in one query on the simulated org "
        "(GENESYS_SIM_MAX_INTERVAL_DAYS)"
    )

    def aggregates(interval: str):
        body = {"interval": interval, "metrics": ["nOffered"]}
        return client.post(AGGREGATES_URL, body, content_type="application/json", headers=bearer)

    assert aggregates("2024-05-01T00:00:00Z/2024-05-11T00:00:00Z").status_code == 200
    refused = aggregates("2024-05-01T00:00:00Z/2024-05-11T00:00:01Z")
    body = assert_genesys_error_with_params(refused)
    assert body["messageParams"] == {"field": "interval", "days": "10"}


def test_by_default_a_year_in_one_query_is_refused(graphql):
    # Counting a year's conversations for the first page took 3.7 s of a server worker.
    response = graphql(conversations_variables("2023-01-01T00:00:00Z", "2024-01-01T00:00:00Z"))
    assert "at most 92 days" in response.json()["errors"][0]["message"]


def assert_genesys_error_with_params(response) -> dict:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "bad.request" and "GENESYS_SIM_MAX_INTERVAL_DAYS" in body["message"]
    return body
