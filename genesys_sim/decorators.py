"""What every API call of the simulated org goes through, GraphQL and REST alike.

`api_endpoint` counts the request, checks the bearer token, applies an injected fault and the
rate limit, and stamps the correlation id, so each view only answers its own question.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson
import redis
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.http import http_date

from genesys_sim import auth, state
from genesys_sim.faults import STATUS_KINDS, Fault, FaultSpecError, parse_fault

logger = logging.getLogger(__name__)

FAULT_HEADER = "X-Sim-Fault"
FAULTS_OFF_MESSAGE = (
    "Fault injection is off on this server: it is for tests only (set "
    "GENESYS_SIM_FAULTS_ENABLED=true, or DEBUG=true on a laptop)."
)

# Genesys error codes and messages for the statuses the simulator can answer with.
_FAULT_ERRORS = {
    "500": ("internal.server.error", "The server encountered an internal error."),
    "502": ("bad.gateway", "The upstream service returned an invalid response."),
    "503": ("service.unavailable", "The service is temporarily unavailable."),
    "504": ("request.timeout", "The request timed out."),
}


def json_response(body: Any, *, status: int = 200) -> HttpResponse:
    return HttpResponse(orjson.dumps(body), status=status, content_type="application/json")


def error_response(request: HttpRequest, *, status: int, code: str, message: str) -> HttpResponse:
    """A Genesys `ErrorBody`; contextId is the request's correlation id."""
    context_id = getattr(request, "sim_context_id", "") or str(uuid.uuid4())
    body: dict[str, Any] = {
        "message": message,
        "code": code,
        "status": status,
        "contextId": context_id,
        "details": [],
        "errors": [],
    }
    return json_response(body, status=status)


def rate_limited_response(
    request: HttpRequest, *, retry_after: int, as_date: bool = False
) -> HttpResponse:
    response = error_response(
        request,
        status=429,
        code="too.many.requests.retry.after",
        message=f"Rate limit exceeded the maximum. Retry the request in [{retry_after}] seconds",
    )
    response["Retry-After"] = http_date(time.time() + retry_after) if as_date else str(retry_after)
    return response


def _fault_for(request: HttpRequest) -> Fault | None:
    """The header's fault for this request alone, else the next queued one."""
    header = request.headers.get(FAULT_HEADER)
    if header:
        return parse_fault(header)
    try:
        return state.fault_pop()
    except redis.RedisError:
        # Without Redis the simulator still answers, just without queued faults.
        logger.warning("genesys_sim: Redis unavailable, no queued faults", exc_info=True)
        return None


def _fault_response(request: HttpRequest, fault: Fault) -> HttpResponse | None:
    """The answer a failing fault gives instead of the real one, or None for the others."""
    if fault.kind in ("429", "429date"):
        return rate_limited_response(
            request, retry_after=int(fault.seconds), as_date=fault.kind == "429date"
        )
    if fault.kind in STATUS_KINDS:
        code, message = _FAULT_ERRORS[fault.kind]
        return error_response(request, status=int(fault.kind), code=code, message=message)
    return None


def _authenticate(request: HttpRequest) -> str | HttpResponse:
    """The calling client's id, or the 401 to answer with."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return error_response(
            request,
            status=401,
            code="authentication.required",
            message="No authentication bearer token specified in authorization header.",
        )
    client_id = auth.token_client_id(token.strip())
    if client_id is None:
        return _bad_credentials(request)
    return client_id


def _bad_credentials(request: HttpRequest) -> HttpResponse:
    return error_response(
        request, status=401, code="bad.credentials", message="Invalid login credentials."
    )


def _answer(
    request: HttpRequest, view: Callable[..., HttpResponse], *args: Any, **kwargs: Any
) -> HttpResponse:
    # The token first: a caller without one gets a cheap 401 and no fault at all, so faults (a
    # slow answer holds a server worker) cannot be used by anyone who holds no token.
    client = _authenticate(request)
    if isinstance(client, HttpResponse):
        return client
    request.sim_client_id = client  # type: ignore[attr-defined]
    fault = None
    if settings.GENESYS_SIM_FAULTS_ENABLED:
        try:
            fault = _fault_for(request)
        except FaultSpecError as error:
            return error_response(
                request, status=400, code="bad.request", message=f"{FAULT_HEADER}: {error}"
            )
    elif FAULT_HEADER in request.headers:
        return error_response(
            request,
            status=403,
            code="not.authorized",
            message=f"{FAULT_HEADER}: {FAULTS_OFF_MESSAGE}",
        )
    if fault is not None and fault.kind == "expire":
        return _bad_credentials(request)  # the token treated as expired
    if fault is not None:
        failed = _fault_response(request, fault)
        if failed is not None:
            return failed

    try:
        retry_after = state.rate_limit_check(client_id=client)
    except redis.RedisError:
        logger.warning("genesys_sim: Redis unavailable, rate limit not applied", exc_info=True)
        retry_after = None
    if retry_after is not None:
        return rate_limited_response(request, retry_after=retry_after)

    if fault is not None and fault.kind == "slow":
        # After the rate limit: a caller can keep no more workers asleep than its budget allows.
        time.sleep(fault.seconds)
    response = view(request, *args, **kwargs)
    if fault is not None and fault.kind == "malformed":
        # Cut mid-document: a client must treat this as an error, not as an empty result.
        body = response.content or b"{}"
        response = HttpResponse(body[: max(1, len(body) // 2)], content_type="application/json")
    elif fault is not None and fault.kind == "drop":
        # Django cannot drop a connection; an empty 200 is the closest a client can see.
        response = HttpResponse(b"", content_type="application/json")
    return response


def api_endpoint(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap an API view in the simulated org's front door (see the module docstring)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        request.sim_context_id = str(uuid.uuid4())  # type: ignore[attr-defined]
        request.sim_client_id = None  # type: ignore[attr-defined]
        status = 500
        try:
            response = _answer(request, view, *args, **kwargs)
            status = response.status_code
        finally:
            try:
                state.request_record(status=status, client_id=request.sim_client_id)  # type: ignore[attr-defined]
            except redis.RedisError:
                logger.warning("genesys_sim: Redis unavailable, request not counted")
        response["ININ-Correlation-Id"] = request.sim_context_id  # type: ignore[attr-defined]
        return response

    return wrapper


def control_endpoint(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The front door of the testing aids (/sim/_faults, /sim/_reset, /sim/_stats): only where
    fault injection is on (GENESYS_SIM_FAULTS_ENABLED), and only with a bearer token of the
    simulated org, like its API. A bearer header is never sent by a browser on its own, so these
    need no CSRF token."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        request.sim_context_id = str(uuid.uuid4())  # type: ignore[attr-defined]
        if not settings.GENESYS_SIM_FAULTS_ENABLED:
            response = error_response(
                request, status=403, code="not.authorized", message=FAULTS_OFF_MESSAGE
            )
        else:
            client = _authenticate(request)
            response = (
                client if isinstance(client, HttpResponse) else view(request, *args, **kwargs)
            )
        response["ININ-Correlation-Id"] = request.sim_context_id  # type: ignore[attr-defined]
        return response

    return wrapper
