from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine

from tests.genesys_sim.helpers import GRAPHQL_URL, TOKEN_URL, basic_header, conversations_variables

QUERY = """{
  conversations(query: {dateRange: {begin: "2024-05-01T09:00:00Z", end: "2024-05-01T09:01:00Z"}}) {
    totalCount
  }
}"""


def assert_token(response, ttl: int = 86400) -> str:
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == ttl
    assert response["Cache-Control"] == "no-store"
    return body["access_token"]


def ask(client, token: str):
    return client.post(
        GRAPHQL_URL,
        {"query": QUERY},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )


def test_it_accepts_credentials_in_a_basic_header_as_the_sdks_send_them(client):
    response = client.post(
        TOKEN_URL, {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=basic_header()
    )
    assert ask(client, assert_token(response)).status_code == 200


def test_it_accepts_credentials_in_the_form_body(client):
    response = client.post(
        TOKEN_URL,
        {
            "grant_type": "client_credentials",
            "client_id": "sim-client",
            "client_secret": "sim-secret",
        },
    )
    assert ask(client, assert_token(response)).status_code == 200


def test_it_accepts_the_tutorials_query_string_and_ignores_its_scope(client):
    # axios.post(url, null, {params: {grant_type, client_id, client_secret, scope}})
    response = client.post(
        TOKEN_URL
        + "?grant_type=client_credentials&client_id=sim-client&client_secret=sim-secret"
        + "&scope=analytics%3Aquery",
        content_type="application/x-www-form-urlencoded",
    )
    assert ask(client, assert_token(response)).status_code == 200


def test_it_issues_a_different_token_each_time(client):
    def new_token():
        response = client.post(
            TOKEN_URL, {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=basic_header()
        )
        return assert_token(response)

    assert new_token() != new_token()


def test_it_refuses_wrong_credentials_with_an_oauth_error(client):
    for kwargs in (
        {"HTTP_AUTHORIZATION": basic_header(secret="wrong")},
        {"HTTP_AUTHORIZATION": basic_header(client_id="someone-else")},
        {"HTTP_AUTHORIZATION": "Basic not-base64!"},
        {},
    ):
        response = client.post(TOKEN_URL, {"grant_type": "client_credentials"}, **kwargs)
        assert response.status_code == 401
        body = response.json()
        assert body["error"] == "invalid_client"
        assert body["description"] and body["error_description"]


def test_it_refuses_other_grant_types(client):
    response = client.post(TOKEN_URL, {"grant_type": "password"}, HTTP_AUTHORIZATION=basic_header())
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"
    assert client.get(TOKEN_URL).status_code == 405


def test_it_uses_the_configured_lifetime_and_expires_tokens(client, settings):
    settings.GENESYS_SIM_TOKEN_TTL = 300
    issued = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    with time_machine.travel(issued, tick=False) as traveller:
        response = client.post(
            TOKEN_URL, {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=basic_header()
        )
        token = assert_token(response, ttl=300)
        traveller.move_to(issued + timedelta(seconds=299))
        assert ask(client, token).status_code == 200
        traveller.move_to(issued + timedelta(seconds=300))
        response = ask(client, token)
    assert response.status_code == 401
    assert response.json()["code"] == "bad.credentials"


def test_it_wants_a_bearer_token_on_api_calls(client):
    response = client.post(
        GRAPHQL_URL,
        {"query": QUERY, "variables": conversations_variables()},
        content_type="application/json",
    )
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "authentication.required"
    assert body["status"] == 401
    assert response["ININ-Correlation-Id"] == body["contextId"]
    for bad in ("forged", "eyJjIjoic2ltLWNsaWVudCJ9:1abc:xyz"):
        response = ask(client, bad)
        assert response.status_code == 401
        assert response.json()["code"] == "bad.credentials"


def test_it_never_trusts_a_token_signed_with_another_key(client, settings, token):
    settings.SECRET_KEY = "another-deployment"
    assert ask(client, token).status_code == 401
