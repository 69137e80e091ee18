"""HTTP views of the simulated Genesys Cloud org (mounted under /sim/)."""

from __future__ import annotations

import logging

import orjson
import redis
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from genesys_sim import auth, graphql_api, state
from genesys_sim.decorators import api_endpoint, control_endpoint, error_response, json_response
from genesys_sim.faults import FaultSpecError, parse_faults

logger = logging.getLogger(__name__)


def _oauth_error(status: int, error: str, description: str) -> HttpResponse:
    # The shape the Go SDK's AuthErrorResponse reads; both description fields carry the text.
    body = {"error": error, "description": description, "error_description": description}
    response = json_response(body, status=status)
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt
@require_POST
def oauth_token(request: HttpRequest) -> HttpResponse:
    """Client-credentials grant. Credentials may come in a Basic header (the official SDKs), in
    the form body (Airbyte), or in the query string (the tutorial's Node client, which also sends
    a `scope` that client-credentials grants ignore)."""
    credentials = auth.basic_credentials(request.headers.get("Authorization", ""))
    if credentials is None:
        params = request.POST if "client_id" in request.POST else request.GET
        credentials = (params.get("client_id", ""), params.get("client_secret", ""))
    grant_type = request.POST.get("grant_type") or request.GET.get("grant_type", "")

    if not auth.client_credentials_valid(client_id=credentials[0], client_secret=credentials[1]):
        response = _oauth_error(401, "invalid_client", "Invalid client credentials.")
    elif grant_type != "client_credentials":
        response = _oauth_error(
            400,
            "unsupported_grant_type",
            f"Unsupported grant_type {grant_type!r}: only client_credentials is available.",
        )
    else:
        token, lifetime = auth.token_issue(client_id=credentials[0])
        response = json_response(
            {"access_token": token, "token_type": "bearer", "expires_in": lifetime}
        )
        response["Cache-Control"] = "no-store"
    try:
        state.token_request_record(status=response.status_code)
    except redis.RedisError:
        # Counting is a testing aid: it must never break a login.
        logger.warning("genesys_sim: token request not counted", exc_info=True)
    return response


@csrf_exempt
@require_POST
@api_endpoint
def analytics_graphql(request: HttpRequest) -> HttpResponse:
    """The project's GraphQL contract (not a Genesys API): POST {query, variables, operationName}."""
    try:
        body = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return error_response(
            request,
            status=400,
            code="bad.request",
            message='The body must be a JSON object with a "query" string.',
        )
    variables = body.get("variables")
    operation_name = body.get("operationName")
    if variables is not None and not isinstance(variables, dict):
        return error_response(
            request, status=400, code="bad.request", message='"variables" must be an object.'
        )
    if operation_name is not None and not isinstance(operation_name, str):
        return error_response(
            request, status=400, code="bad.request", message='"operationName" must be a string.'
        )

    result = graphql_api.graphql_run(
        source=body["query"], variables=variables, operation_name=operation_name
    )
    view_id = graphql_api.unknown_view(result)
    if view_id is not None:
        # A permission failure, not a query error: the Genesys answer is HTTP 403.
        return error_response(
            request,
            status=403,
            code="not.authorized",
            message=f"You are not authorized to read analytics view {view_id!r}.",
        )
    return json_response(result.formatted)


# --- testing aids: simulator-only, never part of the Genesys surface ------------------------------
# Each takes a bearer token and works only with fault injection on (control_endpoint).


@csrf_exempt
@require_safe
@control_endpoint
def stats(request: HttpRequest) -> HttpResponse:
    return json_response(state.stats_read())


@csrf_exempt
@require_POST
@control_endpoint
def reset(request: HttpRequest) -> HttpResponse:
    state.state_reset()
    return json_response({"reset": True})


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
@control_endpoint
def faults(request: HttpRequest) -> HttpResponse:
    """GET: the queued faults. POST {"faults": "429x3,500"}: replace the queue ("" empties it)."""
    if request.method == "POST":
        try:
            body = orjson.loads(request.body)
            spec = body["faults"]
            if not isinstance(spec, str):
                raise TypeError
            queued = parse_faults(spec)
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return json_response({"error": 'send {"faults": "<spec>"}'}, status=400)
        except FaultSpecError as error:
            return json_response({"error": str(error)}, status=400)
        state.faults_replace(queued)
    return json_response({"faults": state.faults_pending()})
