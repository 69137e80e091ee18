"""The Genesys Cloud conversation aggregates query:
POST /api/v2/analytics/conversations/aggregates/query answers pre-bucketed metric stats for one
interval (it has no paging), per group when asked for a breakdown.

This module knows Genesys's shapes only. Which interval to ask for (chunks cut on a report's
bucket edges), how the groups add up and what the stats mean as report buckets is the report
layer's (analytics_worker.sources and normalize).

Genesys stamps each metric in the interval in which it is emitted: nOffered when the conversation
is offered to a queue, t* metrics when what they measure ends (the tTalk of a long call lands in
a later interval than its offer). The simulated org does the same (genesys_sim/README.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from analytics_worker.genesys.errors import GenesysProtocolError
from analytics_worker.genesys.http import FetchProgress, genesys_request
from analytics_worker.genesys.query import (
    ConversationFilters,
    interval_start,
    interval_text,
    query_filter,
)

AGGREGATES_PATH = "/api/v2/analytics/conversations/aggregates/query"
# Queue metrics (n/t of the offer, the wait and its outcome, oServiceLevel), the agent's work
# (talk, hold, after-call work, handle) and agent-initiated outbound (nOutbound).
METRICS = (
    "nOffered",
    "tAnswered",
    "tAbandon",
    "tShortAbandon",
    "tFlowOut",
    "tWait",
    "nOverSla",
    "oServiceLevel",
    "nTransferred",
    "tTalk",
    "tHeld",
    "tAcw",
    "tHandle",
    "nOutbound",
)
# The counts and sums of a metric's StatisticalSummary (the SDK model) that add up across
# entries; `target` (oServiceLevel's goal, a ratio) does not, and is kept as given.
_ADDITIVE_STATS = ("count", "sum", "numerator", "denominator")
# The longest interval one request may ask for. Genesys documents none for aggregates
# [unverified]; 7 days is the details query's limit without a filter, and a month is then five
# requests.
MAX_INTERVAL = timedelta(days=7)

# metric name -> its stats summed over every entry of that metric ({"count": 3, "sum": 4200.0},
# {"numerator": 8, "denominator": 10, "target": 0.8}); t* sums are milliseconds.
MetricStats = dict[str, dict[str, float]]


@dataclass(frozen=True)
class AggregateRow:
    """One interval of one group of an aggregates answer."""

    group: dict[str, str]  # what Genesys answered (it adds mediaType by itself)
    start: datetime  # the interval's start, aware, in whatever offset Genesys wrote it
    stats: MetricStats


def aggregates_query(
    *,
    start: datetime,
    end: datetime,
    granularity: str,
    time_zone: str,
    filters: ConversationFilters,
    group_by: Sequence[str] = (),
    progress: FetchProgress | None = None,
) -> list[AggregateRow]:
    """One aggregates request for [start, end) (at most MAX_INTERVAL), every row it answered."""
    if end - start > MAX_INTERVAL:
        raise ValueError(f"one aggregates query covers at most {MAX_INTERVAL}, not {end - start}")
    body = genesys_request(
        "POST",
        AGGREGATES_PATH,
        json=aggregates_query_body(
            start=start,
            end=end,
            granularity=granularity,
            time_zone=time_zone,
            filters=filters,
            group_by=group_by,
        ),
        progress=progress,
    )
    results = body.get("results", []) if isinstance(body, dict) else None
    if not isinstance(results, list):
        raise GenesysProtocolError(
            "The aggregates query answered without a results list: check that GENESYS_API_URL "
            "points at Genesys Cloud"
        )
    rows = []
    for result in results:
        group = result.get("group") if isinstance(result, dict) else None
        data = result.get("data") if isinstance(result, dict) else None
        if not isinstance(data, list):
            raise GenesysProtocolError("The aggregates query answered a result without data")
        for item in data:
            interval = item.get("interval") if isinstance(item, dict) else None
            rows.append(
                AggregateRow(
                    group=dict(group or {}),
                    start=interval_start(interval, query="aggregates query"),
                    stats=metric_stats(item.get("metrics")),
                )
            )
    return rows


def aggregates_query_body(
    *,
    start: datetime,
    end: datetime,
    granularity: str,
    time_zone: str,
    filters: ConversationFilters,
    group_by: Sequence[str] = (),
) -> dict[str, Any]:
    """The ConversationAggregationQuery for [start, end)."""
    body: dict[str, Any] = {
        "interval": interval_text(start, end),
        "granularity": granularity,
        # Genesys cuts the buckets on this zone's wall clock (a local day across DST).
        "timeZone": time_zone,
        "metrics": list(METRICS),
    }
    if group_by:
        body["groupBy"] = list(group_by)
    found = query_filter(
        ((d.analytics, values) for d, values in filters.selections()),
        required=[d.analytics for d in filters.required()],
    )
    if found:
        body["filter"] = found
    return body


def metric_stats(metrics: Any) -> MetricStats:
    """The counts and sums of each metric of one `data[].metrics` list (and oServiceLevel's
    target)."""
    stats: MetricStats = {}
    for item in metrics if isinstance(metrics, list) else ():
        if isinstance(item, dict) and isinstance(item.get("stats"), dict):
            # A metric may come more than once (with a qualifier): its stats add up.
            total = stats.setdefault(str(item.get("metric")), dict.fromkeys(_ADDITIVE_STATS, 0))
            for name in _ADDITIVE_STATS:
                value = item["stats"].get(name)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    total[name] += value
            target = item["stats"].get("target")
            if isinstance(target, int | float) and not isinstance(target, bool):
                total["target"] = target
    return stats
