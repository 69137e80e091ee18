"""Each report source as the report layer sees it: the Genesys client asked for a report's
interval and filters, and its answers folded into the report's buckets.

A new Genesys endpoint goes into analytics_worker/genesys/ (it knows Genesys's shapes, nothing of
reports); what its answer means as bucket fields goes into normalize.py; the glue goes here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from analytics_worker.genesys.aggregates import MAX_INTERVAL, aggregates_query
from analytics_worker.genesys.details import details_conversation_pages
from analytics_worker.genesys.errors import GenesysBadRequest
from analytics_worker.genesys.graphql import graphql_conversation_pages
from analytics_worker.genesys.http import FetchProgress
from analytics_worker.normalize import (
    BucketAccumulator,
    aggregate_bucket_values,
    details_bucket_values,
)
from analytics_worker.reports import DEFAULT_VIEW, ReportSpec
from analytics_worker.timebuckets import bucket_floor

BucketValues = dict[str, float]


def source_pages(
    *, spec: ReportSpec, accumulator: BucketAccumulator, progress: FetchProgress
) -> Iterator[None]:
    """Fold the spec's source into `accumulator`, yielding after each page (or chunk) folded."""
    if spec.source == "aggregates":
        # One request per chunk of the range, each answering many buckets at once.
        requests_seen = progress.requests
        for bucket_start, values in aggregate_buckets(spec=spec, progress=progress):
            accumulator.add_bucket_values(bucket_start, values)
            if progress.requests != requests_seen:
                requests_seen = progress.requests
                yield
        return
    if spec.source == "details":
        view_refuse(spec)
        pages = details_conversation_pages(
            start=spec.start, end=spec.end, filters=spec.filters, progress=progress
        )
        for records in pages:
            accumulator.add_conversations(records)
            for record in records:
                accumulator.add_bucket_values(
                    datetime.fromisoformat(record["startTime"]), details_bucket_values(record)
                )
            yield
        return
    pages = graphql_conversation_pages(
        start=spec.start,
        end=spec.end,
        view_id=spec.view_id,
        filters=spec.filters,
        progress=progress,
    )
    for items in pages:
        accumulator.add_conversations(items)
        yield


def aggregate_buckets(
    *, spec: ReportSpec, progress: FetchProgress | None = None
) -> Iterator[tuple[datetime, BucketValues]]:
    """Yield (bucket start, aware UTC; values) for each bucket that has data, in order, with
    every group of the answer summed (Genesys adds mediaType to the groups by itself)."""
    view_refuse(spec)
    for start, end in _chunks(spec):
        merged: dict[datetime, BucketValues] = {}
        rows = aggregates_query(
            start=start,
            end=end,
            granularity=spec.granularity,
            time_zone=spec.time_zone,
            filters=spec.filters,
            progress=progress,
        )
        for row in rows:
            # Snapped to the report's own edges, so the buckets are the ones the normaliser
            # expects whatever offset Genesys writes the interval in.
            bucket_start = bucket_floor(row.start, tz=spec.tz, minutes=spec.bucket_minutes)
            values = aggregate_bucket_values(row.stats)
            total = merged.setdefault(bucket_start, dict.fromkeys(values, 0))
            for field, value in values.items():
                total[field] += value
        yield from sorted(merged.items())


def view_refuse(spec: ReportSpec) -> None:
    """Views belong to the project's GraphQL contract; Genesys's REST analytics has none, and
    silently ignoring one would show other queues' data."""
    if spec.view_id != DEFAULT_VIEW:
        raise GenesysBadRequest(
            f"The Genesys REST analytics have no views, so the view {spec.view_id!r} cannot be "
            f"applied: choose the view {DEFAULT_VIEW!r} and filter by queue instead"
        )


def _chunks(spec: ReportSpec) -> Iterator[tuple[datetime, datetime]]:
    """The report's range in aggregates requests of at most MAX_INTERVAL, cut on bucket edges
    so no bucket is split between two answers."""
    start = spec.start
    while start < spec.end:
        end = min(
            spec.end, bucket_floor(start + MAX_INTERVAL, tz=spec.tz, minutes=spec.bucket_minutes)
        )
        yield start, end
        start = end
