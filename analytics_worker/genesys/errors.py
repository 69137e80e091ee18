"""Errors from talking to Genesys Cloud (or the project's GraphQL source).

Every message is meant for a human (an admin reading the job status or the log): it says what went
wrong and what to do. No message ever contains a token, a client secret or an Authorization header.
"""

from __future__ import annotations


class GenesysError(Exception):
    """Base class. `status` is the HTTP status when there was one; `code` and `context_id` are
    the Genesys error body's `code` and `contextId` (the correlation id support will ask for)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        context_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.context_id = context_id


class GenesysAuthError(GenesysError):
    """The credentials were refused (token endpoint), or a fresh token was refused again (API)."""

    DEFAULT_MESSAGE = (
        "Genesys rejected the client credentials (HTTP 401): check GENESYS_CLIENT_ID / "
        "GENESYS_CLIENT_SECRET and the region/GENESYS_API_URL"
    )

    def __init__(
        self,
        message: str = DEFAULT_MESSAGE,
        *,
        status: int | None = 401,
        code: str | None = None,
        context_id: str | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code, context_id=context_id)


class GenesysPermissionError(GenesysError):
    """HTTP 403: the OAuth client's role lacks a permission, or the view/division is not visible."""


class GenesysBadRequest(GenesysError):
    """HTTP 400: Genesys refused the query itself (a bad interval, filter or page size)."""


class GenesysRateLimited(GenesysError):
    """HTTP 429 that outlasted the retries. `retry_after` is Genesys's last Retry-After (s)."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        code: str | None = None,
        context_id: str | None = None,
    ) -> None:
        super().__init__(message, status=429, code=code, context_id=context_id)
        self.retry_after = retry_after


class GenesysUnavailable(GenesysError):
    """5xx, connection errors or timeouts that outlasted the retries."""


class GenesysProtocolError(GenesysError):
    """The answer made no sense: malformed JSON, a repeated pageToken, or a page/item cap hit."""


class GraphQLError(GenesysError):
    """The GraphQL source answered with an `errors` array (HTTP 200, the GraphQL convention)."""

    def __init__(self, messages: list[str]) -> None:
        self.messages = messages
        super().__init__(
            "The GraphQL source rejected the query: "
            + "; ".join(messages or ["(no message)"])
            + ". Check the report's filters and view; if it persists, check the GraphQL "
            "source's logs."
        )
