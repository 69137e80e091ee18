"""The Genesys Cloud conversation aggregates source (reference Q5), the default for dashboard
reports: POST /api/v2/analytics/conversations/aggregates/query answers pre-bucketed counts and
sums, one request per chunk of the range (it has no paging).

Bucket fields, from the metric stats Genesys returns (t* sums are milliseconds, turned into
seconds; "count" is the number of conversations that emitted the metric):

    conversations   nOffered.count            the attribution rule's count (see below)
    offered         nOffered.count
    answered        tAnswered.count
    abandoned       tAbandon.count
    answered_in_sl  tAnswered.count - nOverSla.count   (nOverSla: answered past the threshold)
    answer_sum      tAnswered.sum                      (ASA = answer_sum / answered)
    wait_sum        tAnswered.sum + tAbandon.sum       time in queue until answered or abandoned
    wait_count      tAnswered.count + tAbandon.count
    hold_sum        tHeld.sum
    hold_count      tAnswered.count           as in the GraphQL contract, holdTime exists (0 or
                                              more) for every answered conversation
    handle_sum      tHandle.sum               talk + hold + after-call work
    handle_count    tHandle.count
    talk_sum        tTalk.sum
    acw_sum         tAcw.sum
    duration_sum    tAnswered.sum + tAbandon.sum + tTalk.sum + tHeld.sum
    duration_count  tAnswered.count + tAbandon.count

Duration is an approximation: Genesys has no aggregate metric for the conversation's length
(tConversationDuration is details-only). Queue time plus talk and hold is the customer's time
from entering the queue to leaving; it leaves out IVR and flow time before the queue, alerting
after a transfer, and anything after the customer left. In the simulated org, where a
conversation is queue, talk and hold, it equals the GraphQL contract's `end - start` exactly.

Attribution: the simulated org puts every metric of a conversation in the bucket of its START,
so nOffered there equals the conversations the details query and the GraphQL contract return
for the same filters. Real Genesys stamps each metric when it is emitted: nOffered when the
conversation is offered to a queue (close to its start), t* metrics when what they measure ends
(tTalk of a long call lands in a later bucket). There, conversations = nOffered counts what
queues were offered (an agent's own outbound call without a queue is not counted, a transfer
between queues is counted twice), and long conversations' times may sit one bucket later than
in the details source.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from analytics_worker.genesys.details import interval_text, query_filter, view_refuse
from analytics_worker.genesys.errors import GenesysProtocolError
from analytics_worker.genesys.http import FetchProgress, genesys_request
from analytics_worker.reports import ReportSpec, bucket_floor

AGGREGATES_PATH = "/api/v2/analytics/conversations/aggregates/query"
METRICS = ("nOffered", "tAnswered", "tAbandon", "tTalk", "tHeld", "tAcw", "tHandle", "nOverSla")
# The largest interval per request. Genesys documents none for aggregates [unverified]; 7 days
# is the details query's limit without a filter, and a month is then five requests.
MAX_INTERVAL = timedelta(days=7)

BucketValues = dict[str, float]


def aggregate_buckets(
    *, spec: ReportSpec, progress: FetchProgress | None = None
) -> Iterator[tuple[datetime, BucketValues]]:
    """Yield (bucket start, aware UTC; values) for each bucket that has data, in order, with
    every group of the answer summed (Genesys adds mediaType to the groups by itself)."""
    view_refuse(spec)
    for start, end in _chunks(spec):
        merged: dict[datetime, BucketValues] = {}
        for _group, bucket_start, values in _chunk_rows(
            spec=spec, start=start, end=end, group_by=(), progress=progress
        ):
            total = merged.setdefault(bucket_start, dict.fromkeys(values, 0))
            for field, value in values.items():
                total[field] += value
        yield from sorted(merged.items())


def aggregate_rows(
    *, spec: ReportSpec, group_by: Sequence[str] = (), progress: FetchProgress | None = None
) -> Iterator[tuple[dict[str, str], datetime, BucketValues]]:
    """Yield (group, bucket start, values) for a breakdown, e.g. group_by=("queueId",): one row
    per group and bucket with data. The group holds what Genesys answered (mediaType too)."""
    view_refuse(spec)
    for start, end in _chunks(spec):
        yield from _chunk_rows(
            spec=spec, start=start, end=end, group_by=group_by, progress=progress
        )


def aggregate_query_body(
    *, spec: ReportSpec, start: datetime, end: datetime, group_by: Sequence[str] = ()
) -> dict[str, Any]:
    """The ConversationAggregationQuery for [start, end) of a report."""
    body: dict[str, Any] = {
        "interval": interval_text(start, end),
        "granularity": spec.granularity,
        # Genesys cuts the buckets on this zone's wall clock (a local day across DST).
        "timeZone": spec.time_zone,
        "metrics": list(METRICS),
    }
    if group_by:
        body["groupBy"] = list(group_by)
    found = query_filter(
        (
            ("mediaType", spec.media_types),
            ("originatingDirection", spec.directions),
            ("queueId", spec.queue_ids),
        )
    )
    if found:
        body["filter"] = found
    return body


def bucket_values(metrics: Any) -> BucketValues:
    """The bucket fields (module docstring) from one `data[].metrics` list."""
    stats: dict[str, dict[str, float]] = {}
    for item in metrics if isinstance(metrics, list) else ():
        if isinstance(item, dict) and isinstance(item.get("stats"), dict):
            # A metric may come more than once (with a qualifier): its stats add up.
            total = stats.setdefault(str(item.get("metric")), {"count": 0, "sum": 0})
            for name in ("count", "sum"):
                value = item["stats"].get(name)
                if isinstance(value, int | float):
                    total[name] += value

    def count(metric: str) -> float:
        return stats.get(metric, {}).get("count", 0)

    def seconds(*metrics: str) -> float:
        return sum(stats.get(m, {}).get("sum", 0) for m in metrics) / 1000

    answered, abandoned = count("tAnswered"), count("tAbandon")
    return {
        "conversations": count("nOffered"),
        "offered": count("nOffered"),
        "answered": answered,
        "abandoned": abandoned,
        "answered_in_sl": max(answered - count("nOverSla"), 0),
        "answer_sum": seconds("tAnswered"),
        "wait_sum": seconds("tAnswered", "tAbandon"),
        "wait_count": answered + abandoned,
        "hold_sum": seconds("tHeld"),
        "hold_count": answered,
        "handle_sum": seconds("tHandle"),
        "handle_count": count("tHandle"),
        "talk_sum": seconds("tTalk"),
        "acw_sum": seconds("tAcw"),
        "duration_sum": seconds("tAnswered", "tAbandon", "tTalk", "tHeld"),
        "duration_count": answered + abandoned,
    }


def _chunk_rows(
    *,
    spec: ReportSpec,
    start: datetime,
    end: datetime,
    group_by: Sequence[str],
    progress: FetchProgress | None,
) -> Iterator[tuple[dict[str, str], datetime, BucketValues]]:
    body = genesys_request(
        "POST",
        AGGREGATES_PATH,
        json=aggregate_query_body(spec=spec, start=start, end=end, group_by=group_by),
        progress=progress,
    )
    results = body.get("results", []) if isinstance(body, dict) else None
    if not isinstance(results, list):
        raise GenesysProtocolError(
            "The aggregates query answered without a results list: check that GENESYS_API_URL "
            "points at Genesys Cloud"
        )
    for result in results:
        group = result.get("group") if isinstance(result, dict) else None
        data = result.get("data") if isinstance(result, dict) else None
        if not isinstance(data, list):
            raise GenesysProtocolError("The aggregates query answered a result without data")
        for item in data:
            interval = item.get("interval") if isinstance(item, dict) else None
            bucket_start = _bucket_start(interval, spec=spec)
            yield dict(group or {}), bucket_start, bucket_values(item.get("metrics"))


def _bucket_start(interval: Any, *, spec: ReportSpec) -> datetime:
    try:
        moment = datetime.fromisoformat(str(interval).split("/")[0])
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise GenesysProtocolError(
            f"The aggregates query answered an interval that is not ISO 8601: {interval!r:.60}"
        )
    # Snapped to the report's own edges, so the buckets are the ones the normaliser expects
    # whatever offset Genesys writes the interval in.
    return bucket_floor(moment, tz=spec.tz, minutes=spec.bucket_minutes)


def _chunks(spec: ReportSpec) -> Iterator[tuple[datetime, datetime]]:
    """The report's range in requests of at most MAX_INTERVAL, cut on bucket edges so no
    bucket is split between two answers."""
    start = spec.start
    while start < spec.end:
        end = min(
            spec.end, bucket_floor(start + MAX_INTERVAL, tz=spec.tz, minutes=spec.bucket_minutes)
        )
        yield start, end
        start = end
