"""OAuth client credentials for Genesys Cloud: one access token shared by every worker.

The token lives in Redis, so N workers (on any number of hosts) use one token and fetch a new one
once, not N times: the refresh happens under a Redis lock, and the others wait and re-read. The
request is the one the official SDKs send (AuthorizeClientCredentials in
MyPureCloud/platform-client-sdk-go, configuration.go): POST {login}/oauth/token with a Basic
header and the form body `grant_type=client_credentials`, no scope (scopes do not apply to the
client-credentials grant; the OAuth client's roles do).

If Redis is down the web view still has to answer (docs/ARCHITECTURE.md), so each process then
keeps a token of its own in memory.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import threading

import orjson
import redis
import requests
from django.conf import settings

from analytics_worker.genesys import clock, transport
from analytics_worker.genesys.errors import (
    GenesysAuthError,
    GenesysError,
    GenesysProtocolError,
    GenesysRateLimited,
    GenesysUnavailable,
)
from analytics_worker.redis_client import get_redis, oauth_lock_key, oauth_token_key

logger = logging.getLogger(__name__)

# Treat the token as expired this long before Genesys does (the Go SDK refreshes at
# expires_in - 60 too), so it never dies between our read and Genesys's check.
EXPIRY_BUFFER_SECONDS = 60
# Genesys's shortest configurable token lifetime; assumed if an answer has no expires_in.
DEFAULT_EXPIRES_IN = 300
# How often a worker waiting for another worker's refresh re-reads the token.
LOCK_POLL_SECONDS = 0.05

_local_lock = threading.Lock()
_local_token: tuple[str, float] | None = None  # (token, expires at): only while Redis is down


def client_fingerprint() -> str:
    """A short, stable id for the OAuth client: the token and the rate limiter are per client."""
    raw = f"{settings.GENESYS_CLIENT_ID}\n{settings.GENESYS_LOGIN_URL}".encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def access_token_get() -> str:
    """A valid bearer token: the shared one, or a new one fetched by exactly one worker."""
    try:
        return _shared_token_get()
    except redis.RedisError as exc:
        logger.warning(
            "Redis is unavailable for the shared Genesys token (%s); using a per-process token",
            type(exc).__name__,
        )
        return _local_token_get()


def access_token_drop(*, only_if: str | None = None) -> None:
    """Forget the shared token. With `only_if`, only if it is still that token: a worker whose
    request got a 401 must not throw away the fresh token another worker has just stored."""
    global _local_token
    with _local_lock:
        if only_if is None or (_local_token and _local_token[0] == only_if):
            _local_token = None
    try:
        if only_if is None:
            get_redis().delete(_token_key())
        else:
            _delete_if_equal(get_redis(), _token_key(), only_if)
    except redis.RedisError as exc:
        logger.warning("Redis is unavailable to drop the Genesys token (%s)", type(exc).__name__)


def _token_key() -> str:
    return oauth_token_key(client_fingerprint())


def _lock_key() -> str:
    return oauth_lock_key(client_fingerprint())


def _shared_token_get() -> str:
    r = get_redis()
    key = _token_key()
    cached = _text(r.get(key))
    if cached:
        return cached

    # The lock outlives one token request (timeout plus slack), so a holder that dies mid-request
    # blocks the others only until it expires; then one of them takes over.
    lock_seconds = settings.GENESYS_HTTP_TIMEOUT + 10
    deadline = clock.now() + 2 * lock_seconds
    lock_value = secrets.token_hex(16)
    while True:
        if r.set(_lock_key(), lock_value, nx=True, ex=lock_seconds):
            try:
                # Another worker may have stored a new token between our read and our lock.
                cached = _text(r.get(key))
                if cached:
                    return cached
                token, lifetime = _token_fetch()
                r.set(key, token, ex=lifetime)
                logger.info("Fetched a new Genesys access token (kept %d s)", lifetime)
                return token
            finally:
                _delete_if_equal(r, _lock_key(), lock_value)
        # Another worker is fetching: wait for its token rather than asking Genesys again.
        clock.sleep(LOCK_POLL_SECONDS)
        cached = _text(r.get(key))
        if cached:
            return cached
        if clock.now() > deadline:
            raise GenesysUnavailable(
                "Timed out waiting for another worker to fetch a Genesys token: check that the "
                "Genesys login service (GENESYS_LOGIN_URL) is reachable, then try again"
            )


def _local_token_get() -> str:
    global _local_token
    with _local_lock:
        if _local_token and _local_token[1] > clock.now():
            return _local_token[0]
        token, lifetime = _token_fetch()
        _local_token = (token, clock.now() + lifetime)
        return token


def _token_fetch() -> tuple[str, int]:
    """One token request. Returns (token, seconds to keep it). Raises GenesysError subclasses;
    the caller (http.genesys_request) retries GenesysUnavailable / GenesysRateLimited."""
    client_id = settings.GENESYS_CLIENT_ID
    client_secret = settings.GENESYS_CLIENT_SECRET
    if not client_id or not client_secret:
        raise GenesysAuthError(
            "GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET are not set: create an OAuth client "
            "(Client Credentials grant) in Genesys Cloud and set both",
            status=None,
        )
    login_url = settings.GENESYS_LOGIN_URL
    basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode("ascii")
    try:
        response = transport.http_send(
            "POST",
            f"{login_url}/oauth/token",
            headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
            data={"grant_type": "client_credentials"},
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        # `from None`: the chained exception holds the request, Basic header included.
        raise GenesysUnavailable(
            f"Could not reach the Genesys login service at {login_url} ({type(exc).__name__}): "
            "check GENESYS_LOGIN_URL and the network, then try again"
        ) from None

    status = response.status_code
    if status == 200:
        return _token_parse(response)
    oauth_error = _oauth_error(response)
    if status == 401:
        raise GenesysAuthError(code=oauth_error or None)
    if status in (400, 403):
        # e.g. unauthorized_client: the OAuth client exists but is not a client-credentials one.
        raise GenesysAuthError(
            f"Genesys refused the token request (HTTP {status}"
            f"{': ' + oauth_error if oauth_error else ''}): check that the OAuth client uses the "
            "Client Credentials grant, GENESYS_CLIENT_ID / GENESYS_CLIENT_SECRET, and that "
            "GENESYS_LOGIN_URL matches the org's region",
            status=status,
            code=oauth_error or None,
        )
    if status == 429:
        retry_after = clock.retry_after_seconds(
            response.headers.get("Retry-After"), now=clock.now()
        )
        raise GenesysRateLimited(
            "The Genesys login service is rate limiting token requests (HTTP 429): try again in "
            "a minute",
            retry_after=retry_after,
        )
    if status >= 500:
        raise GenesysUnavailable(
            f"The Genesys login service is unavailable (HTTP {status}): try again later",
            status=status,
        )
    raise GenesysError(
        f"The Genesys login service answered HTTP {status}: check GENESYS_LOGIN_URL",
        status=status,
    )


def _token_parse(response: requests.Response) -> tuple[str, int]:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise GenesysProtocolError(
            "The Genesys login service answered without an access_token: check that "
            "GENESYS_LOGIN_URL points at the login host (login.<region>), not the API host"
        )
    expires_in = body.get("expires_in")
    if not isinstance(expires_in, int | float) or expires_in <= 0:
        expires_in = DEFAULT_EXPIRES_IN
    return token, max(1, int(expires_in) - EXPIRY_BUFFER_SECONDS)


def _oauth_error(response: requests.Response) -> str:
    """The OAuth `error` code (e.g. invalid_client): short and never secret."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return error[:80] if isinstance(error, str) else ""


def _delete_if_equal(r: redis.Redis, key: str, value: str) -> None:
    """Delete `key` only if it still holds `value` (WATCH makes the check-and-delete atomic)."""
    with r.pipeline() as pipe:
        try:
            pipe.watch(key)
            if pipe.get(key) != value.encode():
                pipe.unwatch()
                return
            pipe.multi()
            pipe.delete(key)
            pipe.execute()
        except redis.WatchError:
            pass  # it changed under us, so it is no longer ours to delete


def _text(value: bytes | str | None) -> str | None:
    if not value:
        return None
    return value.decode() if isinstance(value, bytes) else value
