"""Streaming bucket aggregation: conversations (or pre-aggregated values) -> report buckets, and
what each source's answer means as bucket fields.

The worker folds each page into a BucketAccumulator as it arrives and then drops the page, so
memory is O(buckets), never O(conversations). Buckets hold counts and sums, never averages:
averages and percentages are derived when rendering, so buckets re-bucket and roll up exactly.

A conversation belongs to the bucket holding its startTime (the tutorial's rule). For UTC and
30/60-minute buckets, `conversations`, `duration_sum` and `wait_sum` equal the tutorial's
`normalizeAnalyticsData` callCount, totalDuration and totalWaitTime.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from analytics_worker.reports import ReportSpec
from analytics_worker.timebuckets import bucket_edges

# Filled from conversations (the GraphQL source); always present in a result.
CORE_FIELDS = (
    "conversations",
    "duration_sum",
    "duration_count",
    "wait_sum",
    "wait_count",
    "hold_sum",
    "hold_count",
)
# Only the REST sources (aggregates, details) give these, from Genesys's metrics (docs/METRICS.md
# says which metric fills which). A field no source filled is left out of the result: "unknown"
# must not read as "zero abandoned".
OPTIONAL_FIELDS = (
    "offered",
    "answered",
    "answer_sum",
    "abandoned",
    "short_abandoned",
    "flowed_out",
    "transferred",
    "sl_numerator",
    "sl_denominator",
    # oServiceLevel's goal (a ratio) weighted by its denominator, and the denominator of the
    # entries that had a goal: goal = sl_target_sum / sl_target_weight rolls up exactly.
    "sl_target_sum",
    "sl_target_weight",
    "handle_sum",
    "handle_count",
    "talk_sum",
    "talk_count",
    "acw_sum",
    "acw_count",
    "outbound",
    "outbound_handle_sum",
    "outbound_handle_count",
    # Agents' time in routing status (the users aggregates query), seconds.
    "on_queue_sum",
    "interacting_sum",
    "idle_sum",
    "not_responding_sum",
)
BUCKET_FIELDS = CORE_FIELDS + OPTIONAL_FIELDS
# The fields each group of a breakdown keeps per bucket (for its chart line); every field is in
# its totals (for its table row). Per-bucket columns of every field for 50 queues would make a
# week's breakdown ten times the plain report; these give the KPIs a breakdown charts.
GROUP_SERIES_FIELDS = (
    "offered",
    "answered",
    "answer_sum",
    "abandoned",
    "sl_numerator",
    "sl_denominator",
    "wait_sum",
    "wait_count",
    "handle_sum",
    "handle_count",
)
# Everything that is not a sum of seconds is a count, reported as an int.
COUNT_FIELDS = frozenset(name for name in BUCKET_FIELDS if not name.endswith("_sum"))
SUM_DECIMALS = 3

_INF = math.inf
# "2024-05-01T09:00:12.000Z" split after the minute: the fast path caches the bucket of each
# minute prefix and the validity of each seconds suffix, so most items cost two dict lookups.
_FAST_STAMP = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2})(:\d{2}(?:\.\d{1,6})?)?Z")
_PREFIX_LEN = 16
# Bounds on the caches (data is time-ordered, so starting afresh when full costs little).
_MAX_CACHED_MINUTES = 200_000
_MAX_CACHED_SUFFIXES = 100_000


class BucketAccumulator:
    """Counts and sums per bucket of one report, fed page by page.

    `items` counts every conversation seen; `skipped` those not counted in a bucket (start
    outside [spec.start, spec.end), or malformed).
    """

    def __init__(self, spec: ReportSpec, *, edges: list[datetime] | None = None) -> None:
        self.spec = spec
        self.edges = edges or bucket_edges(
            start=spec.start, end=spec.end, granularity=spec.granularity, time_zone=spec.time_zone
        )
        # A breakdown's groups (group id -> its own buckets; "" for values without the grouped
        # dimension), and every report's totals per media type: Genesys answers per media type
        # anyway, and a blended SL hides an e-mail backlog behind voice, or the reverse.
        self.groups: dict[str, BucketAccumulator] = {}
        self.media: dict[str, dict[str, float]] = {}
        self.items = 0
        self.skipped = 0
        size = len(self.edges) - 1
        self._size = size
        # One list per field (not one dict per bucket): the hot loop indexes lists directly.
        self._conversations = [0] * size
        self._duration_sum = [0.0] * size
        self._duration_count = [0] * size
        self._wait_sum = [0.0] * size
        self._wait_count = [0] * size
        self._hold_sum = [0.0] * size
        self._hold_count = [0] * size
        self._fields: dict[str, list] = {
            "conversations": self._conversations,
            "duration_sum": self._duration_sum,
            "duration_count": self._duration_count,
            "wait_sum": self._wait_sum,
            "wait_count": self._wait_count,
            "hold_sum": self._hold_sum,
            "hold_count": self._hold_count,
        }
        # minute prefix ("2024-05-01T09:00") -> bucket index, -1 outside the range. Sound only
        # while every edge is a whole minute, so that no minute straddles an edge (true of all
        # real offsets since 1972; Liberia's -00:44:30 before that was not).
        self._minute_index: dict[str, int] | None = (
            {} if all(e.second == 0 and e.microsecond == 0 for e in self.edges) else None
        )
        # Seconds suffixes (":12.000Z", "Z") already seen in a valid UTC timestamp.
        self._utc_suffixes: set[str] = set()

    # -- conversations -------------------------------------------------------------------

    def add_conversations(self, items: Iterable[dict]) -> None:
        """Fold raw GraphQL `Conversation` dicts into their buckets.

        A null or missing metric (or a missing `metrics` object) is absent: it adds to neither
        the sum nor the count. A metric that is not a finite number counts as absent too.
        """
        minute_index = self._minute_index if self._minute_index is not None else {}
        suffixes = self._utc_suffixes
        slow_index = self._slow_index
        conversations = self._conversations
        duration_sum, duration_count = self._duration_sum, self._duration_count
        wait_sum, wait_count = self._wait_sum, self._wait_count
        hold_sum, hold_count = self._hold_sum, self._hold_count
        prefix_len, inf = _PREFIX_LEN, _INF
        seen = skipped = 0
        for item in items:
            seen += 1
            try:
                stamp = item["startTime"]
                index = minute_index.get(stamp[:prefix_len])
                if index is None or stamp[prefix_len:] not in suffixes:
                    index = slow_index(stamp)
                metrics = item.get("metrics")
            except (TypeError, KeyError, AttributeError):
                # Not a dict, no startTime, or a startTime that is not a string.
                skipped += 1
                continue
            if index < 0:
                skipped += 1
                continue
            conversations[index] += 1
            if metrics.__class__ is not dict:
                continue
            # Each metric: a finite number (not a bool), else absent. The comparison rejects
            # NaN and infinities and raises TypeError for strings and other non-numbers.
            value = metrics.get("duration")
            if value is not None and value.__class__ is not bool:
                try:
                    if -inf < value < inf:
                        duration_sum[index] += value
                        duration_count[index] += 1
                except (TypeError, OverflowError):
                    pass
            value = metrics.get("waitTime")
            if value is not None and value.__class__ is not bool:
                try:
                    if -inf < value < inf:
                        wait_sum[index] += value
                        wait_count[index] += 1
                except (TypeError, OverflowError):
                    pass
            value = metrics.get("holdTime")
            if value is not None and value.__class__ is not bool:
                try:
                    if -inf < value < inf:
                        hold_sum[index] += value
                        hold_count[index] += 1
                except (TypeError, OverflowError):
                    pass
        self.items += seen
        self.skipped += skipped

    def _slow_index(self, stamp: object) -> int:
        """Bucket index of any ISO 8601 timestamp, -1 outside the range or when malformed.

        Fills the fast-path caches when the stamp has the fixed UTC form.
        """
        if not isinstance(stamp, str):
            return -1
        try:
            moment = datetime.fromisoformat(stamp)
            # Genesys times are UTC; a stamp without an offset is read as UTC, never as the
            # server's local time.
            moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
            moment = moment.astimezone(UTC)
        except (ValueError, OverflowError):
            return -1
        index = self._index_of(moment)
        match = _FAST_STAMP.fullmatch(stamp)
        if match is not None and self._minute_index is not None:
            # Every instant of a minute shares its bucket, and a suffix valid after one minute
            # prefix is valid after any other: cache both separately.
            if len(self._minute_index) >= _MAX_CACHED_MINUTES:
                self._minute_index.clear()
            if len(self._utc_suffixes) >= _MAX_CACHED_SUFFIXES:
                self._utc_suffixes.clear()
            self._minute_index[match[1]] = index
            self._utc_suffixes.add(stamp[_PREFIX_LEN:])
        return index

    def _index_of(self, moment: datetime) -> int:
        index = bisect_right(self.edges, moment) - 1
        return index if 0 <= index < self._size else -1

    # -- pre-aggregated values ---------------------------------------------------------

    def add_bucket_values(
        self,
        start: datetime,
        values: Mapping[str, float],
        *,
        group: str | None = None,
        media: str | None = None,
    ) -> None:
        """Add pre-aggregated values to the bucket whose start equals (or that contains) `start`,
        and to that bucket of `group` and the totals of `media` when given.

        Any BUCKET_FIELDS name is allowed; an optional field is reported from then on (as
        zero in buckets no call filled). A start outside the range is ignored.
        """
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        for name, value in values.items():
            if name not in BUCKET_FIELDS:
                raise ValueError(f"unknown bucket field {name!r}")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name}: {value!r} is not a number")
            if not math.isfinite(value):
                raise ValueError(f"{name}: {value!r} is not finite")
        index = self._index_of(start.astimezone(UTC))
        if index < 0:
            return
        self._add_at(index, values)
        if group is not None:
            grouped = self.groups.get(group)
            if grouped is None:
                grouped = self.groups[group] = BucketAccumulator(self.spec, edges=self.edges)
            grouped._add_at(index, values)
        if media is not None:
            totals = self.media.setdefault(media, {})
            for name, value in values.items():
                totals[name] = totals.get(name, 0) + value

    def fields_declare(self, names: Iterable[str]) -> None:
        """Report these fields (as zeros where nothing filled them): what the source gives is
        known even when no conversation matched, so "none" never reads as "not available"."""
        for name in names:
            if name not in BUCKET_FIELDS:
                raise ValueError(f"unknown bucket field {name!r}")
            self._fields.setdefault(name, [0] * self._size)

    def _add_at(self, index: int, values: Mapping[str, float]) -> None:
        for name, value in values.items():
            column = self._fields.get(name)
            if column is None:
                column = self._fields[name] = [0] * self._size
            column[index] += value

    # -- output ------------------------------------------------------------------------

    def result(self) -> list[dict[str, object]]:
        """Every bucket of the range in order, empty ones included (zeros).

        `start`/`end` are ISO 8601 in the report's time zone with their offset, so the two
        01:00 buckets of a fall-back night stay distinct ("01:00-04:00" and "01:00-05:00").
        """
        tz = self.spec.tz
        labels = [edge.astimezone(tz).isoformat() for edge in self.edges]
        fields = self._present_fields()
        buckets: list[dict[str, object]] = []
        for index in range(self._size):
            bucket: dict[str, object] = {"start": labels[index], "end": labels[index + 1]}
            for name in fields:
                bucket[name] = _output(name, self._fields[name][index])
            buckets.append(bucket)
        return buckets

    def totals(self) -> dict[str, object]:
        """The same fields summed over all buckets."""
        totals: dict[str, object] = {}
        for name in self._present_fields():
            column = self._fields[name]
            total = sum(column) if name in COUNT_FIELDS else math.fsum(column)
            totals[name] = _output(name, total)
        return totals

    def group_results(self) -> list[dict[str, Any]]:
        """Each group's id, totals and GROUP_SERIES_FIELDS per bucket (one list per field, in
        bucket order), the largest groups first (by offers, else conversations handled)."""
        found: list[dict[str, Any]] = []
        for group_id, grouped in self.groups.items():
            present = set(grouped._present_fields())
            found.append(
                {
                    "id": group_id,
                    "totals": grouped.totals(),
                    "series": {
                        name: [_output(name, value) for value in grouped._fields[name]]
                        for name in GROUP_SERIES_FIELDS
                        if name in present
                    },
                }
            )
        return sorted(found, key=_volume_order)

    def media_results(self) -> dict[str, dict[str, object]]:
        """The totals of each media type, as totals() gives them."""
        return {
            media: {name: _output(name, totals[name]) for name in BUCKET_FIELDS if name in totals}
            for media, totals in sorted(self.media.items())
        }

    def _present_fields(self) -> list[str]:
        return [name for name in BUCKET_FIELDS if name in self._fields]


def _volume_order(group: Mapping[str, Any]) -> tuple[float, str]:
    # Offers for queues, media types and directions; an agent's group has none of its own
    # (the offer is the queue's), so agents by what they handled.
    totals = group["totals"]
    volume = totals.get("offered") or totals.get("handle_count") or totals.get("conversations")
    return (-(volume or 0), str(group["id"]))


def _output(name: str, value: float) -> int | float:
    if name in COUNT_FIELDS:
        return int(round(value))
    return round(float(value), SUM_DECIMALS)


# --- What each source's answer means as bucket fields ------------------------------------------


def aggregate_bucket_values(
    stats: Mapping[str, Mapping[str, float]], *, outbound: bool = False
) -> dict[str, float]:
    """The bucket fields of Genesys metric stats: one interval of one group of an aggregates
    answer, or one conversation's totals from the details query (t* sums are milliseconds,
    turned into seconds; "count" is how often the metric was emitted). `outbound`: the stats
    are of outbound work (originatingDirection outbound), whose talk, hold and handle time are
    its own figures, never part of the queues' AHT.

        offered            nOffered.count     (conversations, for the aggregates: queue offers)
        answered           tAnswered.count    answer_sum: tAnswered.sum (ASA)
        abandoned          tAbandon.count     short_abandoned: tShortAbandon.count (a subset)
        flowed_out         tFlowOut.count     transferred: nTransferred.count
        wait_sum / _count  tWait (details: tAcd)  answered, abandoned or flowed out; count = offered
        sl_numerator       oServiceLevel.numerator, else tAnswered.count - nOverSla.count
        sl_denominator     oServiceLevel.denominator, else tAnswered.count + tAbandon.count
        sl_target_*        oServiceLevel.target (its goal) weighted by the denominator
        hold_sum / _count  tHeld              per hold: the count counts holds
        handle, talk, acw  tHandle, tTalk, tAcw  (inbound queue work)
        outbound           nOutbound.count    outbound_handle: tHandle of outbound work

    Genesys has no aggregate metric for a conversation's length, so the duration fields stay
    empty here (the details and GraphQL sources have it).
    """

    def stat(metric: str, name: str = "count") -> float:
        return stats.get(metric, {}).get(name, 0)

    def seconds(metric: str) -> float:
        return stat(metric, "sum") / 1000

    answered, abandoned = stat("tAnswered"), stat("tAbandon")
    # tWait in an aggregates answer; a details conversation carries tAcd, the same time in queue
    # for every offer (answered, abandoned or flowed out).
    wait = "tWait" if "tWait" in stats else "tAcd" if "tAcd" in stats else None
    # The fallbacks below rebuild a queue's wait and SL from its answers and abandons, so they
    # apply to the stats of offers only: an agent's group (groupBy userId) carries tAnswered
    # but its queue's group already counted the offer's wait and SL.
    offers = "nOffered" in stats
    values: dict[str, float] = {
        "conversations": stat("nOffered"),
        "offered": stat("nOffered"),
        "answered": answered,
        "answer_sum": seconds("tAnswered"),
        "abandoned": abandoned,
        "short_abandoned": stat("tShortAbandon"),
        "flowed_out": stat("tFlowOut"),
        "transferred": stat("nTransferred"),
    }
    if wait:
        values.update(wait_sum=seconds(wait), wait_count=stat(wait))
    elif offers:
        # Before tWait existed, Genesys's wait was answered + abandoned time; kept for sources
        # that send no tWait (the simulated org's older answers).
        values.update(
            wait_sum=seconds("tAnswered") + seconds("tAbandon"), wait_count=answered + abandoned
        )
    else:
        values.update(wait_sum=0, wait_count=0)
    if "oServiceLevel" in stats:
        level = stats["oServiceLevel"]
        values["sl_numerator"] = level.get("numerator", 0)
        values["sl_denominator"] = level.get("denominator", 0)
        target = level.get("target")
        if target is not None:
            values["sl_target_sum"] = target * values["sl_denominator"]
            values["sl_target_weight"] = values["sl_denominator"]
    elif offers and (answered or abandoned):
        # Genesys's own formula where it sent no oServiceLevel (the details query has none):
        # answered within the threshold over answered + abandoned.
        values["sl_numerator"] = max(answered - stat("nOverSla"), 0)
        values["sl_denominator"] = answered + abandoned
    if outbound:
        values["outbound"] = stat("nOutbound")
        values["outbound_handle_sum"] = seconds("tHandle")
        values["outbound_handle_count"] = stat("tHandle")
        return values
    values.update(
        hold_sum=seconds("tHeld"),
        hold_count=stat("tHeld"),
        handle_sum=seconds("tHandle"),
        handle_count=stat("tHandle"),
        talk_sum=seconds("tTalk"),
        talk_count=stat("tTalk"),
        acw_sum=seconds("tAcw"),
        acw_count=stat("tAcw"),
    )
    return values


def details_bucket_values(record: Mapping[str, Any]) -> dict[str, float]:
    """Every bucket field of one details record (genesys.details.details_record): the
    conversation itself, its length, and its metric totals mapped as the aggregates' are, so
    both REST sources give the same buckets where Genesys counts alike."""
    duration = (record.get("metrics") or {}).get("duration")
    values = aggregate_bucket_values(
        record.get("metricStats") or {}, outbound=record.get("direction") == "outbound"
    )
    values.update(
        conversations=1,
        duration_sum=duration or 0.0,
        duration_count=int(duration is not None),
    )
    return values


def details_listing_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """One conversation of a drill-down, from a details record: when, what, where, who, its
    times in seconds (None where it had none) and its outcomes in queue, as Genesys counts them
    (a conversation transferred to a second queue may be answered in one and abandoned in the
    other: every outcome it had is listed)."""
    stats = record.get("metricStats") or {}
    metrics = record.get("metrics") or {}

    def seconds(name: str) -> float | None:
        found = stats.get(name)
        return None if not found else round(found["sum"] / 1000, SUM_DECIMALS)

    outcomes = [
        outcome
        for metric, outcome in (
            ("tAnswered", "answered"),
            ("tAbandon", "abandoned"),
            ("tFlowOut", "flowed out"),
            ("nTransferred", "transferred"),
        )
        if metric in stats
    ]
    return {
        "id": record["id"],
        "start": record["startTime"],
        "media": record.get("type"),
        "direction": record.get("direction"),
        "queue_ids": list(record.get("queueIds") or ()),
        "user_ids": [p["id"] for p in record.get("participants") or () if p.get("type") == "agent"],
        "wait": metrics.get("waitTime"),
        "talk": seconds("tTalk"),
        "hold": metrics.get("holdTime"),
        "acw": seconds("tAcw"),
        "outcomes": outcomes,
    }


# Routing statuses that are on queue (OFF_QUEUE is not); COMMUNICATING is non-ACD work while on
# queue, counted on queue but not as interacting (Genesys's occupancy counts ACD interactions).
_ON_QUEUE_STATUSES = ("IDLE", "INTERACTING", "NOT_RESPONDING", "COMMUNICATING")


def user_status_values(status_ms: Mapping[str, float]) -> dict[str, float]:
    """The bucket fields of one agent-interval of routing-status times (milliseconds)."""
    return {
        "on_queue_sum": sum(status_ms.get(s, 0) for s in _ON_QUEUE_STATUSES) / 1000,
        "interacting_sum": status_ms.get("INTERACTING", 0) / 1000,
        "idle_sum": status_ms.get("IDLE", 0) / 1000,
        "not_responding_sum": status_ms.get("NOT_RESPONDING", 0) / 1000,
    }
