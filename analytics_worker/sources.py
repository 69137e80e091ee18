"""Each report source as the report layer sees it: the Genesys client asked for a report's
interval and filters, and its answers folded into the report's buckets.

A new Genesys endpoint goes into analytics_worker/genesys/ (it knows Genesys's shapes, nothing of
reports); what its answer means as bucket fields goes into normalize.py; the glue goes here.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings

from analytics_worker.genesys.aggregates import MAX_INTERVAL, aggregates_query
from analytics_worker.genesys.details import MAX_INTERVAL as DETAILS_MAX_INTERVAL
from analytics_worker.genesys.details import PAGE_SIZE as DETAILS_PAGE_SIZE
from analytics_worker.genesys.details import details_conversation_pages
from analytics_worker.genesys.errors import GenesysBadRequest
from analytics_worker.genesys.graphql import graphql_conversation_pages
from analytics_worker.genesys.http import FetchProgress
from analytics_worker.genesys.query import DIMENSIONS, ConversationFilters
from analytics_worker.genesys.queues import queue_service_levels_cached
from analytics_worker.genesys.user_aggregates import MAX_USERS, user_status_query
from analytics_worker.normalize import (
    BucketAccumulator,
    aggregate_bucket_values,
    details_bucket_values,
    details_listing_row,
    user_status_values,
)
from analytics_worker.reports import DEFAULT_VIEW, ReportSpec
from analytics_worker.timebuckets import bucket_floor

BucketValues = dict[str, float]
# A drill-down lists at most this many conversations (the first, in start order): one bucket of
# a busy queue is a few hundred; a whole week of every queue is never scanned.
LISTING_CAP = 1000
DIRECTION_GROUP = DIMENSIONS["directions"].analytics
MEDIA_GROUP = DIMENSIONS["media_types"].analytics


def source_pages(
    *, spec: ReportSpec, accumulator: BucketAccumulator, progress: FetchProgress
) -> Iterator[None]:
    """Fold the spec's source into `accumulator`, yielding after each page (or chunk) folded."""
    if spec.source in ("aggregates", "details"):
        # The fields these sources give, whether or not anything matched the filters.
        accumulator.fields_declare(aggregate_bucket_values({}))
    if spec.source == "aggregates":
        # One request per chunk of the range, each answering many buckets (and groups) at once.
        for rows in aggregate_rows(spec=spec, progress=progress):
            for row in rows:
                accumulator.add_bucket_values(
                    row.start, row.values, group=row.group, media=row.media
                )
                # Its items are the conversations the aggregates counted, not rows or requests.
                accumulator.items += int(row.values.get("conversations", 0))
            yield
        return
    if spec.source == "details":
        view_refuse(spec)
        pages = details_conversation_pages(
            start=spec.start, end=spec.end, filters=queue_work(spec), progress=progress
        )
        for records in pages:
            accumulator.items += len(records)
            for record in records:
                # Each conversation in the bucket of its start, every metric with it.
                accumulator.add_bucket_values(
                    datetime.fromisoformat(record["startTime"]),
                    details_bucket_values(record),
                    media=record.get("type") or None,
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


def listing_pages(*, spec: ReportSpec, progress: FetchProgress) -> Iterator[list[dict[str, Any]]]:
    """A drill-down's conversations, page by page, in start order, as listing rows: the details
    query for the spec's interval and filters (queue work only, as the report's figures are).
    The caller stops reading past LISTING_CAP."""
    pages = details_conversation_pages(
        start=spec.start, end=spec.end, filters=queue_work(spec), progress=progress
    )
    for records in pages:
        yield [details_listing_row(record) for record in records]


@dataclasses.dataclass(frozen=True)
class BucketRow:
    """One bucket of one group of an aggregates answer, as bucket fields."""

    start: datetime  # aware UTC, the report's bucket edge
    values: BucketValues
    media: str | None  # Genesys groups by media type whatever was asked
    group: str | None  # the breakdown's group ("" when the answer's group lacks it); None: none


def aggregate_rows(
    *, spec: ReportSpec, progress: FetchProgress | None = None
) -> Iterator[list[BucketRow]]:
    """Yield each chunk of the range's rows, one aggregates request per chunk for every group of
    the breakdown at once.

    Queue work only, and outbound apart: the query keeps conversations that went through a
    queue (direct and internal calls carry no queueId) and groups by originatingDirection, so the
    talk and handle time of agent outbound (no nOffered) never mix into the queues' AHT."""
    view_refuse(spec)
    grouped = spec.group_dimension
    group_by = [DIRECTION_GROUP]
    if grouped is not None and grouped not in group_by and grouped != MEDIA_GROUP:
        group_by.append(grouped)
    for start, end in _chunks(spec):
        rows = _conversation_rows(spec, start=start, end=end, group_by=group_by, progress=progress)
        if spec.group == "agent":
            rows += _user_status_rows(
                spec,
                start=start,
                end=end,
                user_ids=sorted({row.group for row in rows if row.group}),
                progress=progress,
            )
        yield rows


def _conversation_rows(
    spec: ReportSpec,
    *,
    start: datetime,
    end: datetime,
    group_by: list[str],
    progress: FetchProgress | None,
) -> list[BucketRow]:
    grouped = spec.group_dimension
    answer = aggregates_query(
        start=start,
        end=end,
        granularity=spec.granularity,
        time_zone=spec.time_zone,
        filters=queue_work(spec),
        group_by=group_by,
        progress=progress,
    )
    return [
        BucketRow(
            # Snapped to the report's own edges, so the buckets are the ones the normaliser
            # expects whatever offset Genesys writes the interval in.
            start=bucket_floor(row.start, tz=spec.tz, minutes=spec.bucket_minutes),
            values=aggregate_bucket_values(
                row.stats, outbound=row.group.get(DIRECTION_GROUP) == "outbound"
            ),
            media=row.group.get(MEDIA_GROUP),
            group=None if grouped is None else row.group.get(grouped, ""),
        )
        for row in answer
    ]


def _user_status_rows(
    spec: ReportSpec,
    *,
    start: datetime,
    end: datetime,
    user_ids: list[str],
    progress: FetchProgress | None,
) -> list[BucketRow]:
    """The agents' time in routing status over the chunk, MAX_USERS a request: the agents who
    handled work in it (one who only sat idle has no row of the conversation aggregates)."""
    rows = []
    for first in range(0, len(user_ids), MAX_USERS):
        for row in user_status_query(
            start=start,
            end=end,
            granularity=spec.granularity,
            time_zone=spec.time_zone,
            user_ids=user_ids[first : first + MAX_USERS],
            progress=progress,
        ):
            rows.append(
                BucketRow(
                    start=bucket_floor(row.start, tz=spec.tz, minutes=spec.bucket_minutes),
                    values=user_status_values(row.status_ms),
                    media=None,
                    group=row.user_id,
                )
            )
    return rows


def aggregate_buckets(
    *, spec: ReportSpec, progress: FetchProgress | None = None
) -> Iterator[tuple[datetime, BucketValues]]:
    """Yield (bucket start, aware UTC; values) for each bucket that has data, in order, with
    every group of the answer summed: the report's own buckets, as aggregate_rows folds them."""
    for rows in aggregate_rows(spec=spec, progress=progress):
        merged: dict[datetime, BucketValues] = {}
        for row in rows:
            # Groups differ in what they carry (outbound work has no queue metrics).
            total = merged.setdefault(row.start, {})
            for field, value in row.values.items():
                total[field] = total.get(field, 0) + value
        yield from sorted(merged.items())


def service_level_goal(spec: ReportSpec) -> dict[str, float] | None:
    """The queues' service-level goal for the report ({"percentage": 0.8, "duration_ms":
    20000}) when every queue and media type it covers has the same one, from the cached queue
    list; None when they differ or are not known (the page then shows oServiceLevel's target
    ratio alone)."""
    levels = queue_service_levels_cached()
    if not levels:
        return None
    queue_ids = spec.queue_ids or tuple(levels)
    goals = set()
    for queue_id in queue_ids:
        by_media = levels.get(queue_id)
        if not by_media:
            return None
        for media in spec.media_types or tuple(by_media):
            if media not in by_media:
                return None
            goals.add(by_media[media])
    if len(goals) != 1:
        return None
    [(percentage, duration_ms)] = goals
    return {"percentage": percentage, "duration_ms": duration_ms}


def queue_work(spec: ReportSpec) -> ConversationFilters:
    """The report's filters for the REST sources, limited to conversations that went through a
    queue: the queue KPIs are about queue traffic."""
    return dataclasses.replace(spec.filters, queue_work_only=True)


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


def fetch_cost_estimate(*, spec: ReportSpec) -> int:
    """About how many requests to Genesys fetching `spec` takes, known before it runs (services
    charges it to the user's budget and picks the queue by it): aggregates one per chunk of the
    range, details and GraphQL one per page of conversations, counted at
    REPORT_CONVERSATIONS_PER_DAY. Filters are left out: they only make it fewer, and a report
    fetched once is charged what its last fetch really took instead."""
    if spec.source == "aggregates":
        # An agent breakdown asks each chunk's agents' status times too (a request per 100).
        per_chunk = 2 if spec.group == "agent" else 1
        return per_chunk * sum(1 for _ in _chunks(spec))
    if spec.listing:
        # It stops after LISTING_CAP conversations: a page more to know there are more.
        return math.ceil(LISTING_CAP / DETAILS_PAGE_SIZE) + 1
    per_day = settings.REPORT_CONVERSATIONS_PER_DAY
    if spec.source == "details":
        # Genesys searches every UTC day an interval touches, in scans of at most 7 days, and a
        # scan ends on a page that comes back empty.
        first = spec.start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        days = math.ceil((spec.end - first) / timedelta(days=1))
        chunk_days = DETAILS_MAX_INTERVAL.days
        requests = 0
        for offset in range(0, days, chunk_days):
            scan_days = min(chunk_days, days - offset)
            requests += math.ceil(scan_days * per_day / DETAILS_PAGE_SIZE) + 1
        return requests
    span_days = (spec.end - spec.start) / timedelta(days=1)
    return max(1, math.ceil(span_days * per_day / settings.GENESYS_PAGE_SIZE))
