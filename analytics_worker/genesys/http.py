"""THE one chokepoint for every API call to Genesys (and the GraphQL source behind the same API
host); transport.http_send below it sends the bytes, the OAuth token request included.

genesys_request() adds the shared bearer token, keeps all workers together under one rate limit,
retries what is worth retrying, and turns every failure into a GenesysError with a message that
says what to do.

Retries (as the official SDKs' RetryConfiguration does): 429 waits Retry-After (seconds or an HTTP date; Genesys always sends
seconds since 2021), else exponential backoff with full jitter; 500/502/503/504, connection
errors and timeouts back off the same way; a 200 with malformed JSON (usually a proxy cutting the
body short) is retried twice. 400/403/404 and GraphQL errors are answers, not accidents: never
retried. A 401 means the token expired or was revoked: drop it, retry once with a fresh one.

Rate limit: Genesys allows 300 requests/minute per client-credentials token, and all workers share
one token, so they share one budget (Redis): each request first reserves the next free slot,
spaced 60/limit seconds apart; a 429 sets a shared "paused until" that every worker honours.
Beat's prefetch goes last: it takes a slot only when no fetch a person waits for is sending.
"""

from __future__ import annotations

import logging
import math
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
import redis
import requests
from django.conf import settings
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
)
from tenacity.stop import stop_base

from analytics_worker.genesys import clock, transport
from analytics_worker.genesys.auth import access_token_drop, access_token_get, client_fingerprint
from analytics_worker.genesys.errors import (
    GenesysAuthError,
    GenesysBadRequest,
    GenesysError,
    GenesysPermissionError,
    GenesysProtocolError,
    GenesysRateLimited,
    GenesysUnavailable,
)
from analytics_worker.redis_client import (
    get_redis,
    metric_incr,
    rate_limit_hold_key,
    rate_limit_next_key,
    rate_limit_pause_key,
)

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 6  # one try and five retries
MAX_RETRY_SECONDS = 120.0  # never start a wait that would end past this, counted from the 1st try
BACKOFF_BASE_SECONDS = 2.0  # full jitter: wait uniform(0, min(cap, base * 2**(n-1)))
BACKOFF_CAP_SECONDS = 30.0
MALFORMED_JSON_ATTEMPTS = 3
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Slots are 2% wider than 60/limit: clock skew between hosts and network jitter then never push
# more than `limit` requests into any 60-second window at Genesys.
RATE_LIMIT_SAFETY = 1.02
# Beat's prefetch yields the budget to everything else (FetchProgress.background, _slot_reserve):
# it waits while a foreground fetch has sent within this long (the time such a fetch takes from
# one request to its next: the answer, folding the page in), and books a slot only when it is
# free now (within BOOK_AHEAD_SECONDS), never one ahead of a person's next request.
FOREGROUND_HOLD_SECONDS = 1.0
BOOK_AHEAD_SECONDS = 0.01
# Waits shorter than this (the limiter's usual 0.2 s spacing) are counted but not announced.
ANNOUNCE_WAIT_SECONDS = 0.5


@dataclass
class FetchProgress:
    """Counters for one fetch, shared by all its requests, so the job status can show them."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0  # 429s received
    # Called before any wait longer than ANNOUNCE_WAIT_SECONDS, e.g.
    # (12.0, "Genesys rate limit (429): waiting 12 s").
    on_wait: Callable[[float, str], None] | None = None
    # A time.monotonic() time budget for the whole fetch (the web's inline fetch when Redis is
    # down): no request, retry or pacing wait runs past it.
    deadline: float | None = None
    # Beat's prefetch: its requests yield the shared budget to fetches a person waits for
    # (_slot_reserve).
    background: bool = False

    def seconds_left(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()


def genesys_request(
    method: str,
    path: str,
    *,
    json: Any = None,
    params: Mapping[str, Any] | None = None,
    progress: FetchProgress | None = None,
) -> Any:
    """Send one request to `settings.GENESYS_API_URL + path` and return the parsed JSON body
    (None for an empty 204). Raises a GenesysError subclass when it cannot."""
    if not path.startswith("/"):
        raise ValueError(f"path must start with '/', not {path[:40]!r}")
    call = _Call(method.upper(), path, json, params, progress or FetchProgress())
    retrying = Retrying(
        stop=(
            stop_after_attempt(MAX_ATTEMPTS)
            | stop_before_delay(MAX_RETRY_SECONDS)
            | _StopPastDeadline(call.progress)
        ),
        wait=_retry_wait,
        retry=retry_if_exception_type(_Retryable),
        before_sleep=call.before_retry_sleep,
        sleep=lambda seconds: clock.sleep(seconds),  # late-bound, so tests can patch clock.sleep
        retry_error_callback=_give_up,
    )
    return retrying(call.attempt)


class _StopPastDeadline(stop_base):
    """Stop retrying when the next wait would end past the fetch's time budget."""

    def __init__(self, progress: FetchProgress) -> None:
        self.progress = progress

    def __call__(self, retry_state: RetryCallState) -> bool:
        left = self.progress.seconds_left()
        return left is not None and retry_state.upcoming_sleep >= left


class _Retryable(Exception):
    """One attempt failed in a way worth retrying. `error` is what the caller gets if the
    retries run out; `retry_after` is Genesys's Retry-After, if it gave one."""

    def __init__(self, error: GenesysError, *, what: str, retry_after: float | None = None) -> None:
        super().__init__(what)
        self.error = error
        self.what = what  # for logs and the wait reason: "HTTP 503", "ConnectTimeout", ...
        self.retry_after = retry_after


@dataclass
class _Call:
    method: str
    path: str
    json: Any
    params: Mapping[str, Any] | None
    progress: FetchProgress
    malformed: int = 0

    def attempt(self) -> Any:
        token = _token()
        response = self.send(token)
        if response.status_code == 401:
            # Expired or revoked. Drop it only if no other worker has replaced it already, then
            # take whatever access_token_get() has (one worker refreshes, the others reuse it).
            logger.info(
                "Genesys %s %s: HTTP 401, retrying once with a new token", self.method, self.path
            )
            access_token_drop(only_if=token)
            self.progress.retries += 1
            metric_incr("gad_upstream_retries_total")
            token = _token()
            response = self.send(token)
            if response.status_code == 401:
                access_token_drop(only_if=token)
                message, code, context_id = _error_details(response)
                # Not "bad credentials": the login service has just issued a token for them (it
                # refuses wrong ones itself, and auth says so). Genesys then refusing that token
                # too means another region's API, or tokens revoked faster than we fetch them.
                said = f": {message}" if message else ""
                raise GenesysAuthError(
                    f"Genesys refused {self.method} {self.path} twice (HTTP 401{said}), the "
                    "second time with a token it had just issued: the login service accepted "
                    "GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET, so the credentials are fine. "
                    "Check that GENESYS_API_URL is in the same region as GENESYS_LOGIN_URL (an "
                    "API of another region refuses the token); if they match, Genesys may be "
                    "revoking tokens: try again in a few minutes",
                    code=code,
                    context_id=context_id,
                )
        return self.parse(response)

    def send(self, token: str) -> requests.Response:
        _slot_reserve(self.progress)
        timeout = float(settings.GENESYS_HTTP_TIMEOUT)
        left = self.progress.seconds_left()
        if left is not None:
            if left <= 0:
                raise GenesysUnavailable(
                    f"Genesys did not answer {self.method} {self.path} within the time budget"
                )
            timeout = min(timeout, left)
        self.progress.requests += 1
        try:
            response = transport.http_send(
                self.method,
                settings.GENESYS_API_URL + self.path,
                json=self.json,
                params=self.params,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                timeout=timeout,
            )
        except (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
        ) as exc:
            what = type(exc).__name__
            metric_incr("gad_upstream_requests_total", status=what)
            raise _Retryable(
                GenesysUnavailable(
                    f"Could not reach Genesys at {settings.GENESYS_API_URL} for {self.method} "
                    f"{self.path} ({what}) through the retries: check "
                    "GENESYS_API_URL and the network, then try again"
                ),
                what=what,
            ) from None
        metric_incr("gad_upstream_requests_total", status=str(response.status_code))
        return response

    def parse(self, response: requests.Response) -> Any:
        status = response.status_code
        if 200 <= status < 300:
            if status == 204 or (not response.content and status != 200):
                return None
            try:
                return orjson.loads(response.content)
            except orjson.JSONDecodeError:
                self.malformed += 1
                malformed = GenesysProtocolError(
                    f"Genesys answered {self.method} {self.path} with malformed JSON "
                    f"{self.malformed} times (HTTP {status}, {len(response.content)} bytes). "
                    "This is usually a proxy cutting responses short: try again, and if it "
                    "persists check what sits between this server and GENESYS_API_URL",
                    status=status,
                )
                if self.malformed >= MALFORMED_JSON_ATTEMPTS:
                    raise malformed from None
                raise _Retryable(malformed, what="malformed JSON") from None

        message, code, context_id = _error_details(response)
        said = f": {message}" if message else ""
        where = f"{self.method} {self.path}"

        def error(cls: type[GenesysError], text: str) -> GenesysError:
            return cls(text, status=status, code=code, context_id=context_id)

        if status == 429:
            self.progress.rate_limited += 1
            retry_after = clock.retry_after_seconds(
                response.headers.get("Retry-After"), now=clock.now()
            )
            if retry_after is not None:
                _pause_all(clock.now() + retry_after)
            last = f", last Retry-After {retry_after:.0f} s" if retry_after is not None else ""
            raise _Retryable(
                GenesysRateLimited(
                    f"Genesys kept rate limiting {where} (HTTP 429{last}) until the retries ran "
                    "out: try again in a few minutes; if it keeps happening, lower "
                    "GENESYS_RATE_LIMIT_PER_MINUTE or refresh fewer reports at once",
                    retry_after=retry_after,
                    code=code,
                    context_id=context_id,
                ),
                what="HTTP 429",
                retry_after=retry_after,
            )
        if status in RETRY_STATUSES:
            raise _Retryable(
                error(
                    GenesysUnavailable,
                    f"Genesys is unavailable for {where} (HTTP {status}{said}) and stayed so "
                    "through the retries: try again later (status.mypurecloud.com shows outages)",
                ),
                what=f"HTTP {status}",
            )
        if status == 400:
            raise error(
                GenesysBadRequest,
                f"Genesys refused {where} (HTTP 400{said}): check the report's date range and "
                "filters",
            )
        if status == 403:
            # Genesys names the missing permission (or the view/division) in the message.
            raise error(
                GenesysPermissionError,
                f"Genesys denied {where} (HTTP 403{said}): give the OAuth client's role the "
                "permission named here, or choose a view it may see",
            )
        if status == 404:
            raise error(
                GenesysError,
                f"Genesys has no {where} (HTTP 404{said}): check GENESYS_API_URL and the ids in "
                "the request",
            )
        raise error(GenesysError, f"Genesys answered {where} with HTTP {status}{said}")

    def before_retry_sleep(self, state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        what = failure.what if isinstance(failure, _Retryable) else "error"
        seconds = state.upcoming_sleep
        self.progress.retries += 1
        metric_incr("gad_upstream_retries_total")
        # One line per retry; status and wait only (never headers, tokens or bodies).
        logger.warning(
            "Genesys %s %s: %s; retry %d/%d in %.1f s",
            self.method,
            self.path,
            what,
            state.attempt_number,
            MAX_ATTEMPTS - 1,
            seconds,
        )
        if what == "HTTP 429":
            reason = f"Genesys rate limit (429): waiting {seconds:.0f} s"
        else:
            reason = f"Genesys {what}: retrying in {seconds:.0f} s"
        _wait_report(self.progress, seconds, reason)


def _token() -> str:
    """The shared token; a token endpoint that is down or busy is retried like the API."""
    try:
        return access_token_get()
    except (GenesysUnavailable, GenesysRateLimited) as exc:
        what = "token HTTP 429" if isinstance(exc, GenesysRateLimited) else "token request failed"
        retry_after = exc.retry_after if isinstance(exc, GenesysRateLimited) else None
        raise _Retryable(exc, what=what, retry_after=retry_after) from None


def _retry_wait(state: RetryCallState) -> float:
    failure = state.outcome.exception() if state.outcome else None
    if isinstance(failure, _Retryable) and failure.retry_after is not None:
        return failure.retry_after
    # Full jitter (AWS "Exponential Backoff and Jitter"): workers that failed together do not
    # come back together.
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (state.attempt_number - 1))
    return random.uniform(0, ceiling)


def _give_up(state: RetryCallState) -> Any:
    failure = state.outcome.exception() if state.outcome else None
    if not isinstance(failure, _Retryable):  # cannot happen: only _Retryable is retried
        raise RuntimeError("retry gave up without a retryable failure") from failure
    raise failure.error


def _wait_report(progress: FetchProgress, seconds: float, reason: str) -> None:
    if seconds > ANNOUNCE_WAIT_SECONDS and progress.on_wait is not None:
        progress.on_wait(seconds, reason)


# --- The shared rate limiter ----------------------------------------------------------------------


def _limiter_keys() -> tuple[str, str, str]:
    fingerprint = client_fingerprint()
    return (
        rate_limit_next_key(fingerprint),
        rate_limit_pause_key(fingerprint),
        rate_limit_hold_key(fingerprint),
    )


def _slot_reserve(progress: FetchProgress) -> None:
    """Take the next free send slot shared by all workers, and wait until it comes.

    "Next allowed time" (GCRA with a burst of one): slot = max(now, next, paused_until) and
    next = slot + spacing, read and written in one WATCH transaction so two workers never get
    the same slot.

    A background request (beat's prefetch) yields to the others: it takes a slot only when the
    slot is free now and no foreground fetch has sent in the last FOREGROUND_HOLD_SECONDS, and
    otherwise waits and asks again. Booking ahead like the others, it would hold a place in the
    line that a person's next request then waits behind: with two prefetch fetches running, a
    supervisor's report got one slot in three (bench "contention", 3x its time on an idle stack).
    """
    while True:
        booking = _slot_take(progress)
        wait = booking.at - booking.now
        paused = booking.paused_until >= booking.at
        if booking.booked:
            _pacing_wait(progress, wait=wait, reason=_wait_reason(wait, paused=paused))
            # A slot booked ahead may meet a 429 that another worker got while this one waited:
            # a pause that now ends past the slot outranks it (the drill saw such a request go
            # 0.27 s into one). A pause known at booking time ends at the slot at the latest.
            if wait <= 0 or not _paused_past(booking.at):
                return
            continue
        # A background request that did not book: wait for the slot or the hold to pass, then
        # ask again (a person's request may have come in meanwhile).
        reason = _wait_reason(wait, paused=paused, yielding=booking.held_until >= booking.at)
        _pacing_wait(progress, wait=wait, reason=reason)


class _Booking(NamedTuple):
    booked: bool  # False: a background request that must wait until `at` and ask again
    at: float  # when the request may go
    now: float
    paused_until: float
    held_until: float


def _slot_take(progress: FetchProgress) -> _Booking:
    """Book the next slot, or (a background request) say until when to wait for one."""
    limit = settings.GENESYS_RATE_LIMIT_PER_MINUTE
    spacing = 60.0 / limit * RATE_LIMIT_SAFETY
    next_key, pause_key, hold_key = _limiter_keys()
    try:
        with get_redis().pipeline() as pipe:
            while True:
                try:
                    pipe.watch(next_key, pause_key)
                    now = clock.now()
                    next_at, paused_until, held_until = (
                        _float(value) for value in pipe.mget(next_key, pause_key, hold_key)
                    )
                    if paused_until - now > MAX_RETRY_SECONDS:
                        pipe.unwatch()
                        raise GenesysRateLimited(
                            f"Genesys asked every worker to pause for {paused_until - now:.0f} s "
                            "(HTTP 429): try again in a few minutes; if it keeps happening, "
                            "lower GENESYS_RATE_LIMIT_PER_MINUTE",
                            retry_after=paused_until - now,
                        )
                    slot = max(now, next_at, paused_until)
                    if progress.background and max(slot, held_until) > now + BOOK_AHEAD_SECONDS:
                        pipe.unwatch()
                        return _Booking(False, max(slot, held_until), now, paused_until, held_until)
                    pipe.multi()
                    # Expiry only tidies up: a "next" in the past is the same as no key.
                    pipe.set(next_key, repr(slot + spacing), ex=math.ceil(slot - now) + 60)
                    if not progress.background:
                        # Every booking writes next_key, which all of them watch: bookings are
                        # serialised, so the latest foreground slot is the largest.
                        held = slot + FOREGROUND_HOLD_SECONDS
                        pipe.set(hold_key, repr(held), ex=math.ceil(held - now) + 60)
                    pipe.execute()
                    return _Booking(True, slot, now, paused_until, held_until)
                except redis.WatchError:
                    continue  # another worker took a slot between our read and write
    except redis.RedisError as exc:
        # Degraded (docs/ARCHITECTURE.md): send without the shared budget; 429s still back off.
        logger.warning(
            "Redis is unavailable for the shared Genesys rate limiter (%s); sending without it",
            type(exc).__name__,
        )
        now = clock.now()
        return _Booking(True, now, now, 0.0, 0.0)


def _paused_past(moment: float) -> bool:
    _, pause_key, _ = _limiter_keys()
    try:
        return _float(get_redis().get(pause_key)) > moment
    except redis.RedisError:
        return False  # degraded as in _slot_take: this worker's own 429s still back off


def _wait_reason(wait: float, *, paused: bool, yielding: bool = False) -> str:
    if paused:
        return f"Genesys rate limit (429): all workers paused, waiting {wait:.0f} s"
    if yielding:
        return f"Letting reports that people wait for go first: waiting {wait:.1f} s"
    limit = settings.GENESYS_RATE_LIMIT_PER_MINUTE
    return f"Pacing requests under {limit}/min: waiting {wait:.1f} s"


def _pacing_wait(progress: FetchProgress, *, wait: float, reason: str) -> None:
    if wait <= 0:
        return
    left = progress.seconds_left()
    if left is not None and wait >= left:
        raise GenesysRateLimited(
            f"The next request to Genesys may go in {wait:.0f} s, past the time budget: "
            "try again in a minute",
            retry_after=wait,
        )
    _wait_report(progress, wait, reason)
    clock.sleep(wait)


def _pause_all(until: float) -> None:
    """After a 429, hold every worker's next slot until `until` (never shortening a pause)."""
    _, pause_key, _ = _limiter_keys()
    try:
        with get_redis().pipeline() as pipe:
            while True:
                try:
                    pipe.watch(pause_key)
                    if _float(pipe.get(pause_key)) >= until:
                        pipe.unwatch()
                        return
                    pipe.multi()
                    pipe.set(pause_key, repr(until), ex=math.ceil(until - clock.now()) + 60)
                    pipe.execute()
                    return
                except redis.WatchError:
                    continue
    except redis.RedisError as exc:
        logger.warning("Redis is unavailable to share a Genesys 429 pause (%s)", type(exc).__name__)


def _float(value: bytes | str | None) -> float:
    return float(value) if value else 0.0


# --- Genesys error bodies --------------------------------------------------------------------------

_PARAM_RE = re.compile(r"\{(\w+)\}")


def _error_details(response: requests.Response) -> tuple[str, str | None, str | None]:
    """(message, code, contextId) from a Genesys ErrorBody; a short excerpt if it is not one."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        excerpt = " ".join(response.text.split())[:200]
        return excerpt, None, None
    message = body.get("message")
    if not message and isinstance(body.get("messageWithParams"), str):
        params = body.get("messageParams") or {}
        message = _PARAM_RE.sub(
            lambda m: str(params.get(m.group(1), m.group(0))), body["messageWithParams"]
        )
    code = body.get("code")
    context_id = body.get("contextId")
    return (
        str(message)[:500] if message else "",
        code if isinstance(code, str) else None,
        context_id if isinstance(context_id, str) else None,
    )
