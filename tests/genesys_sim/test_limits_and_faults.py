from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import orjson
import pytest

from genesys_sim import state
from genesys_sim.faults import FaultSpecError, parse_faults
from tests.genesys_sim.helpers import conversations_variables

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


def test_it_queues_faults_posted_to_faults(client, ask):
    response = client.post(
        "/sim/_faults", {"faults": "503,expire"}, content_type="application/json"
    )
    assert response.json() == {"faults": ["503", "expire"]}
    # A header fault is for its own request only and leaves the queue alone.
    assert ask("504").status_code == 504
    assert [ask().status_code for _ in range(3)] == [503, 401, 200]
    assert client.get("/sim/_faults").json() == {"faults": []}
    response = client.post("/sim/_faults", {"faults": "boom"}, content_type="application/json")
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


def test_it_counts_requests_and_resets(client, ask, settings):
    settings.GENESYS_SIM_RATE_LIMIT_PER_MINUTE = 2
    assert [ask().status_code for _ in range(3)] == [200, 200, 429]
    stats = client.get("/sim/_stats").json()
    assert stats["requests"] == 3
    assert stats["by_status"] == {"200": 2, "429": 1}
    assert stats["by_client"] == {"sim-client": 3}
    assert state.stats_read()["by_client"]["sim-client"] == 3

    assert client.post("/sim/_reset").json() == {"reset": True}
    assert client.get("/sim/_stats").json()["requests"] == 0
    assert ask().status_code == 200  # the rate budget is full again
