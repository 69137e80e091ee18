"""The one function that sends HTTP to Genesys: every API call and the OAuth token request.

One place for the session (keep-alive saves a TLS handshake per page), the timeout, TLS
verification and the User-Agent, and one name for tests to patch (callers call
`transport.http_send`, never a copy imported by name). What to send and how to read
the answer (tokens, retries, the rate limit, error bodies) is the business of http.py and auth.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests
from django.conf import settings

# Names the product in Genesys's request logs and in any proxy in between.
USER_AGENT = "genesys-analytics-dashboard/0.1 (+python-requests)"

# One session per process; requests' Session is safe for the sequential use a worker makes of it.
_session = requests.Session()
_session.headers["User-Agent"] = USER_AGENT


def http_send(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    timeout: float | None = None,
    json: Any = None,
    data: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
) -> requests.Response:
    """Send one request and return the response, whatever its status. Raises requests'
    ConnectionError, Timeout and ChunkedEncodingError as they come: the callers decide what a
    failure means (retry, or a message that says what to do). `timeout` defaults to
    GENESYS_HTTP_TIMEOUT; a fetch with a time budget passes what is left of it. TLS certificates
    are always verified (requests' default, never turned off here)."""
    return _session.request(
        method,
        url,
        headers=dict(headers),
        json=json,
        data=data,
        params=params,
        timeout=settings.GENESYS_HTTP_TIMEOUT if timeout is None else timeout,
    )
