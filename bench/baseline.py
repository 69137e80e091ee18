"""The yardstick: the design of the Node.js tutorial the product grew from, in Python.

Cache the raw conversation list in Redis (`getCachedOrFetch`) and, on every request, read it,
parse it, normalise it (`normalizeAnalyticsData`) and build the chart (`generateChartConfig`).
This is not product code: it is written as plainly as the tutorial, step for step, and parses
JSON with the same fast parser as the product (orjson), so that the benches compare designs,
not parsers. It runs against the same simulated org, Redis server and data as the product.

One deliberate difference: the query asks for pages of 500 (the product's GENESYS_PAGE_SIZE;
the tutorial leaves pageSize out, and the simulated org then serves 100), so a tutorial fetch
makes as many requests as a product fetch, and the benches measure caching, not page size.
"""

from __future__ import annotations

import hashlib
import os
import time
from datetime import UTC, datetime
from typing import Any

import orjson
import redis
import requests
from django.conf import settings
from django.http import HttpRequest, HttpResponse

from dashboard.views import api_get

BASELINE_REDIS_URL_ENV = "BENCH_BASELINE_REDIS_URL"
PAGE_SIZE = 500
CACHE_TTL_SECONDS = 1800  # the tutorial's CACHE_TTL default

# Step 1 of the tutorial, word for word.
QUERY = """
query GetConversations($query: ConversationQuery, $pageToken: String) {
  conversations(query: $query, pageToken: $pageToken) {
    pageToken
    pageSize
    totalCount
    items {
      id
      type
      direction
      startTime
      endTime
      metrics {
        duration
        waitTime
        holdTime
      }
      participants {
        id
        type
      }
    }
  }
}
"""

_redis: redis.Redis | None = None
_token: tuple[str, float] | None = None  # (access token, expiry epoch s), like the tutorial's


def baseline_redis() -> redis.Redis:
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(os.environ[BASELINE_REDIS_URL_ENV])
    return _redis


def build_analytics_query(
    *, view_id: str, start_date: str, end_date: str, conversation_type: str | None = None
) -> dict[str, Any]:
    """buildAnalyticsQuery: the GraphQL variables for the filters."""
    variables: dict[str, Any] = {
        "query": {
            "viewId": view_id,
            "dateRange": {"begin": start_date, "end": end_date},
            "filter": [],
            "pageSize": PAGE_SIZE,
        },
        "pageToken": None,
    }
    if conversation_type:
        variables["query"]["filter"].append(
            {"field": "type", "operator": "eq", "value": conversation_type}
        )
    return variables


def cache_key(variables: dict[str, Any]) -> str:
    """generateCacheKey: sha256 of JSON.stringify(variables)."""
    return "genesys:analytics:" + hashlib.sha256(orjson.dumps(variables)).hexdigest()


def access_token_get(session: requests.Session) -> str:
    """getAccessToken: credentials as query parameters, cached until 60 s before expiry."""
    global _token
    if _token is not None and time.time() < _token[1] - 60:
        return _token[0]
    response = session.post(
        f"{settings.GENESYS_LOGIN_URL}/oauth/token",
        params={
            "grant_type": "client_credentials",
            "client_id": settings.GENESYS_CLIENT_ID,
            "client_secret": settings.GENESYS_CLIENT_SECRET,
            "scope": "analytics:query",
        },
        timeout=30,
    )
    response.raise_for_status()
    body = response.json()
    _token = (body["access_token"], time.time() + body["expires_in"])
    return _token[0]


def fetch_paginated_graphql(
    *, session: requests.Session, variables: dict[str, Any]
) -> list[dict[str, Any]]:
    """fetchPaginatedGraphQL with executeWithRetry: every page's items, collected in one list."""
    all_items: list[dict[str, Any]] = []
    current = dict(variables)
    while True:
        token = access_token_get(session)
        response = None
        for attempt in range(1, 4):
            response = session.post(
                f"{settings.GENESYS_API_URL}/api/v2/analytics/graphql",
                json={"query": QUERY, "variables": current},
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            if response.status_code == 429 and attempt < 3:
                time.sleep(float(response.headers.get("Retry-After") or 2**attempt))
                continue
            break
        assert response is not None
        response.raise_for_status()
        data = orjson.loads(response.content)
        if data.get("errors"):
            raise RuntimeError(f"GraphQL Error: {data['errors']}")
        page = data["data"]["conversations"]
        all_items.extend(page["items"])
        if not page["pageToken"]:
            return all_items
        current["pageToken"] = page["pageToken"]


def get_cached_or_fetch(*, key: str, fetch: Any) -> Any:
    """getCachedOrFetch: the raw list from Redis, or fetched and stored with the TTL."""
    cached = baseline_redis().get(key)
    if cached:
        return orjson.loads(cached)
    fresh = fetch()
    baseline_redis().set(key, orjson.dumps(fresh), ex=CACHE_TTL_SECONDS)
    return fresh


def normalize_analytics_data(
    raw_items: list[dict[str, Any]], bucket_minutes: int = 60
) -> list[dict[str, Any]]:
    """normalizeAnalyticsData: flatten every conversation, then sum them into buckets."""
    normalized = [
        {
            "id": item["id"],
            "type": item["type"],
            "direction": item["direction"],
            "startTime": _epoch_ms(item["startTime"]),
            "endTime": _epoch_ms(item["endTime"]),
            "duration": item["metrics"]["duration"] or 0,
            "waitTime": item["metrics"]["waitTime"] or 0,
            "holdTime": item["metrics"]["holdTime"] or 0,
        }
        for item in raw_items
    ]
    bucket_ms = bucket_minutes * 60 * 1000
    chart_data: dict[int, dict[str, Any]] = {}
    for item in normalized:
        bucket_key = item["startTime"] // bucket_ms * bucket_ms
        if bucket_key not in chart_data:
            chart_data[bucket_key] = {
                "timestamp": bucket_key,
                "callCount": 0,
                "totalDuration": 0,
                "totalWaitTime": 0,
            }
        chart_data[bucket_key]["callCount"] += 1
        chart_data[bucket_key]["totalDuration"] += item["duration"]
        chart_data[bucket_key]["totalWaitTime"] += item["waitTime"]
    return sorted(chart_data.values(), key=lambda bucket: bucket["timestamp"])


def _epoch_ms(text: str) -> int:
    # new Date(text).getTime()
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def generate_chart_config(chart_data: list[dict[str, Any]], title: str) -> dict[str, Any]:
    """generateChartConfig: the dual-axis Chart.js line chart."""
    labels = [
        datetime.fromtimestamp(d["timestamp"] / 1000, UTC).strftime("%H:%M:%S") for d in chart_data
    ]
    return {
        "type": "line",
        "data": {
            "labels": labels,
            "datasets": [
                {
                    "label": "Conversation Count",
                    "data": [d["callCount"] for d in chart_data],
                    "borderColor": "#007bff",
                    "backgroundColor": "rgba(0, 123, 255, 0.1)",
                    "yAxisID": "y",
                },
                {
                    "label": "Total Duration (seconds)",
                    "data": [round(d["totalDuration"]) for d in chart_data],
                    "borderColor": "#28a745",
                    "backgroundColor": "rgba(40, 167, 69, 0.1)",
                    "yAxisID": "y1",
                },
            ],
        },
        "options": {
            "responsive": True,
            "plugins": {"title": {"display": True, "text": title}},
            "scales": {
                "y": {
                    "type": "linear",
                    "display": True,
                    "position": "left",
                    "title": {"display": True, "text": "Count"},
                },
                "y1": {
                    "type": "linear",
                    "display": True,
                    "position": "right",
                    "grid": {"drawOnChartArea": False},
                    "title": {"display": True, "text": "Duration (s)"},
                },
            },
        },
    }


def chart_for_request(request: HttpRequest) -> dict[str, Any]:
    """The tutorial's route up to the chart: filters -> key -> raw list -> buckets -> chart."""
    variables = build_analytics_query(
        view_id=request.GET.get("viewId") or "all",
        start_date=request.GET["startDate"],
        end_date=request.GET["endDate"],
        conversation_type=request.GET.get("type"),
    )

    def fetch() -> list[dict[str, Any]]:
        with requests.Session() as session:
            return fetch_paginated_graphql(session=session, variables=variables)

    raw_data = get_cached_or_fetch(key=cache_key(variables), fetch=fetch)
    normalized = normalize_analytics_data(raw_data, 30)
    return generate_chart_config(normalized, "Genesys Analytics Dashboard")


@api_get
def api_view(request: HttpRequest) -> HttpResponse:
    """The baseline of GET /api/report: the same login, middleware and server; the chart as
    JSON."""
    return HttpResponse(orjson.dumps(chart_for_request(request)), content_type="application/json")


@api_get
def page_view(request: HttpRequest) -> HttpResponse:
    """The tutorial's page: the chart config inline, Chart.js from the product's vendored copy
    (the tutorial loads it from a CDN, which a benchmark must not depend on)."""
    config = orjson.dumps(chart_for_request(request)).decode().replace("</", "<\\/")
    html = f"""<!DOCTYPE html>
<html>
<head>
<title>Analytics Dashboard</title>
<script src="/static/dashboard/vendor/chart.js/chart.umd.min.js"></script>
<style>body {{ font-family: sans-serif; padding: 20px; }} canvas {{ max-width: 1000px; }}</style>
</head>
<body>
<h1>Genesys Analytics Dashboard</h1>
<canvas id="analyticsChart"></canvas>
<script>
const config = {config};
new Chart(document.getElementById('analyticsChart'), config);
</script>
</body>
</html>"""
    response = HttpResponse(html)
    # The tutorial's page runs inline script; the product's policy (set only where a view set
    # none) would block it.
    response["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'"
    )
    return response
