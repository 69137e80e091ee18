"""One function sends every request to Genesys, the OAuth token request included."""

from __future__ import annotations

from unittest import mock

import responses

from analytics_worker.genesys import transport
from analytics_worker.genesys.http import genesys_request
from tests.helpers import FAKE_GENESYS_API, FAKE_GENESYS_TOKEN_URL

PATH = "/api/v2/routing/queues"


def test_the_token_request_and_the_api_call_go_through_http_send(
    api: responses.RequestsMock,
) -> None:
    api.get(FAKE_GENESYS_API + PATH, json={"entities": []})
    with mock.patch.object(transport, "http_send", wraps=transport.http_send) as send:
        assert genesys_request("GET", PATH) == {"entities": []}

    assert [(call.args[0], call.args[1]) for call in send.call_args_list] == [
        ("POST", FAKE_GENESYS_TOKEN_URL),
        ("GET", FAKE_GENESYS_API + PATH),
    ]
    # Both went out on the one session, with the product's User-Agent.
    assert [call.request.headers["User-Agent"] for call in api.calls] == [transport.USER_AGENT] * 2


def test_it_applies_the_configured_timeout_unless_told_less(
    settings,
) -> None:
    settings.GENESYS_HTTP_TIMEOUT = 7
    with mock.patch.object(transport._session, "request", autospec=True) as request:
        transport.http_send("GET", "http://genesys.test/x", headers={})
        transport.http_send("GET", "http://genesys.test/x", headers={}, timeout=1.5)
    assert [call.kwargs["timeout"] for call in request.call_args_list] == [7, 1.5]
