"""KPIs: every average, percentage, label and chart series derived from a report's counts.

The cache stores counts and sums only (they roll up exactly); everything a person reads is
derived here, once, for the page, its redraws (views.report_panel), the exports and the KPI
tiles alike. dashboard.js only draws what this module computed. Each KPI is defined once, in
KPIS, as Genesys defines it (docs/METRICS.md): a new KPI is one entry there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from analytics_worker.normalize import BUCKET_FIELDS

NOT_AVAILABLE = "n/a"
SO_FAR = "so far"

KpiKind = Literal["count", "duration", "percent"]


@dataclass(frozen=True)
class Kpi:
    """One KPI: `numerator` / `denominator` of bucket fields (a count is its numerator alone),
    times 100 for a percentage."""

    key: str
    label: str
    kind: KpiKind
    numerator: str
    denominator: str | None = None
    # Under the value on its tile.
    hint: str = ""
    # What it is and which Genesys metrics it comes from: shown when the tile is hovered or
    # focused, and in docs/METRICS.md.
    formula: str = ""

    def value(self, bucket: Mapping[str, Any]) -> float | None:
        numerator = _number(bucket, self.numerator)
        if self.denominator is None:
            return numerator
        denominator = _number(bucket, self.denominator)
        if numerator is None or not denominator:
            return None
        ratio = numerator / denominator
        return ratio * 100 if self.kind == "percent" else ratio

    def values(self, columns: Mapping[str, Sequence[float]], size: int) -> list[float | None]:
        """value() of each of `size` buckets given as columns (field -> one value a bucket),
        without building a dict a bucket (a breakdown's chart lines are thousands of points)."""
        numerators = columns.get(self.numerator)
        if numerators is None:
            return [None] * size
        if self.denominator is None:
            return [float(value) for value in numerators]
        denominators = columns.get(self.denominator)
        if denominators is None:
            return [None] * size
        scale = 100 if self.kind == "percent" else 1
        return [
            numerator / denominator * scale if denominator else None
            for numerator, denominator in zip(numerators, denominators, strict=True)
        ]

    @property
    def is_rate(self) -> bool:
        # A rate of a bucket that is still filling swings wildly (0 % SL two minutes in).
        return self.kind == "percent"


KPIS: dict[str, Kpi] = {
    kpi.key: kpi
    for kpi in (
        Kpi(
            "conversations",
            "Conversations",
            "count",
            "conversations",
            formula="Conversations that started in the bucket (details and GraphQL sources); "
            "for the aggregates source, offers to a queue (nOffered).",
        ),
        Kpi(
            "offered",
            "Offered",
            "count",
            "offered",
            formula="Offered to a queue: answered + abandoned + flowed out (nOffered); a "
            "conversation transferred between queues is offered in each.",
        ),
        Kpi(
            "answered",
            "Answered",
            "count",
            "answered",
            formula="Answered by an agent, the first connect (tAnswered.count).",
        ),
        Kpi(
            "abandoned",
            "Abandoned",
            "count",
            "abandoned",
            formula="Abandoned while waiting in queue (tAbandon.count), short abandons included.",
        ),
        Kpi(
            "abandon_pct",
            "Abandon %",
            "percent",
            "abandoned",
            "offered",
            hint="abandoned ÷ offered",
            formula="Abandoned in queue ÷ offered (tAbandon.count ÷ nOffered.count).",
        ),
        Kpi(
            "service_level_pct",
            "Service level %",
            "percent",
            "sl_numerator",
            "sl_denominator",
            formula="Answered within the queue's threshold ÷ (answered + abandoned), as the "
            "org's service-level settings count it (oServiceLevel numerator ÷ denominator).",
        ),
        Kpi(
            "asa",
            "ASA",
            "duration",
            "answer_sum",
            "answered",
            hint="speed of answer",
            formula="Average speed of answer: time in queue of answered conversations "
            "(tAnswered.sum ÷ tAnswered.count).",
        ),
        Kpi(
            "avg_wait",
            "Avg wait",
            "duration",
            "wait_sum",
            "wait_count",
            formula="Time in queue until answered, abandoned or flowed out (tWait.sum ÷ "
            "tWait.count); GraphQL source: the contract's waitTime.",
        ),
        Kpi(
            "aht",
            "AHT",
            "duration",
            "handle_sum",
            "handle_count",
            hint="handle time",
            formula="Average handle time of inbound queue work: talk + hold + after-call work "
            "(tHandle.sum ÷ tHandle.count); outbound work has its own figure.",
        ),
        Kpi(
            "avg_hold",
            "Avg hold",
            "duration",
            "hold_sum",
            "hold_count",
            hint="per hold",
            formula="Time on hold per hold, not per call (tHeld.sum ÷ tHeld.count).",
        ),
        Kpi(
            "handled",
            "Handled",
            "count",
            "handle_count",
            formula="Conversations an agent handled: talk, hold and after-call work ended "
            "(tHandle.count).",
        ),
        Kpi(
            "avg_acw",
            "Avg ACW",
            "duration",
            "acw_sum",
            "acw_count",
            hint="after-call work",
            formula="After-call work (wrap-up) per conversation that had some (tAcw.sum ÷ "
            "tAcw.count).",
        ),
        Kpi(
            "avg_talk",
            "Avg talk",
            "duration",
            "talk_sum",
            "talk_count",
            formula="Talk time per talk (tTalk.sum ÷ tTalk.count).",
        ),
        Kpi(
            "flowed_out",
            "Flow-outs",
            "count",
            "flowed_out",
            formula="Left the queue through a flow, e.g. a queue timeout to voicemail "
            "(tFlowOut.count): offered, neither answered nor abandoned.",
        ),
        Kpi(
            "short_abandoned",
            "Short abandons",
            "count",
            "short_abandoned",
            formula="Abandoned within the short-abandon threshold (tShortAbandon.count); "
            "they are counted in the abandons too.",
        ),
        Kpi(
            "transferred",
            "Transfers",
            "count",
            "transferred",
            formula="Conversations an agent transferred (nTransferred.count).",
        ),
        Kpi(
            "outbound",
            "Outbound",
            "count",
            "outbound",
            formula="Outbound calls and messages agents started (nOutbound.count), for the "
            "report's queues.",
        ),
        Kpi(
            "outbound_aht",
            "Outbound AHT",
            "duration",
            "outbound_handle_sum",
            "outbound_handle_count",
            hint="outbound handle time",
            formula="Handle time of outbound work (tHandle of outbound conversations), kept "
            "out of the queues' AHT.",
        ),
        Kpi(
            "on_queue_time",
            "On queue",
            "duration",
            "on_queue_sum",
            formula="Time on queue: idle, interacting, not responding or communicating "
            "(tAgentRoutingStatus, users aggregates).",
        ),
        Kpi(
            "interacting_time",
            "Interacting",
            "duration",
            "interacting_sum",
            formula="Time on queue handling ACD interactions, wrap-up included "
            "(tAgentRoutingStatus INTERACTING).",
        ),
        Kpi(
            "idle_time",
            "Idle",
            "duration",
            "idle_sum",
            formula="Time on queue waiting for an interaction (tAgentRoutingStatus IDLE).",
        ),
        Kpi(
            "not_responding_time",
            "Not responding",
            "duration",
            "not_responding_sum",
            formula="Time on queue after letting an interaction go unanswered, until the "
            "agent is available again (tAgentRoutingStatus NOT_RESPONDING).",
        ),
        Kpi(
            "occupancy",
            "Occupancy",
            "percent",
            "interacting_sum",
            "on_queue_sum",
            formula="Interacting ÷ on queue time (tAgentRoutingStatus INTERACTING ÷ the on-queue "
            "statuses).",
        ),
        Kpi(
            "avg_duration",
            "Avg duration",
            "duration",
            "duration_sum",
            "duration_count",
            formula="Conversation length, start to end (details and GraphQL sources only: "
            "Genesys has no aggregate metric for it).",
        ),
    )
}

# The tiles in display order; a tile whose inputs the source does not give is left out.
TILE_KEYS = (
    "conversations",
    "avg_duration",
    "offered",
    "answered",
    "abandon_pct",
    "service_level_pct",
    "asa",
    "avg_wait",
    "aht",
    "avg_hold",
    "flowed_out",
    "short_abandoned",
    "transferred",
    "outbound",
    "outbound_aht",
)
# The bucket table's columns after the start, in order; likewise left out when not given.
TABLE_KEYS = (
    "conversations",
    "avg_duration",
    "offered",
    "answered",
    "abandon_pct",
    "service_level_pct",
    "asa",
    "avg_wait",
    "aht",
    "avg_hold",
    "flowed_out",
    "outbound",
)

# One row per bucket in the CSV and JSON exports: the counts and sums as stored (the weighted
# goal's internals aside: sl_target_pct says it), then every KPI.
STORED_COLUMNS = tuple(name for name in BUCKET_FIELDS if not name.startswith("sl_target"))
EXPORT_COLUMNS = (
    "start",
    "end",
    "complete",
    *STORED_COLUMNS,
    *(key for key in KPIS if key not in STORED_COLUMNS),
    "sl_target_pct",
)


def _number(bucket: Mapping[str, Any], name: str) -> float | None:
    value = bucket.get(name)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def bucket_derive(bucket: Mapping[str, Any]) -> dict[str, float | None]:
    """Every KPI of one bucket or of the totals; None where the source gives no base."""
    return {key: kpi.value(bucket) for key, kpi in KPIS.items()}


def _given(kpi: Kpi, totals: Mapping[str, Any], *, source: str = "") -> bool:
    """Whether the report's source gives this KPI's inputs at all (a count of zero is given;
    an average of a source with no such time, like the aggregates' duration, is not). The
    aggregates' conversations are their offers: shown once, as Offered."""
    if kpi.numerator not in totals:
        return False
    if kpi.key == "conversations" and source == "aggregates" and "offered" in totals:
        return False
    return kpi.denominator is None or kpi.denominator in totals and bool(totals[kpi.denominator])


def report_has_contact_centre_metrics(report: Mapping[str, Any]) -> bool:
    """Whether the source gave offered/answered/abandoned (so SL %, abandon % and AHT exist)."""
    totals = report.get("totals") or {}
    return "offered" in totals or "answered" in totals


def report_is_empty(report: Mapping[str, Any]) -> bool:
    """Whether nothing at all matched the report's filters in its range (every count zero):
    the page says so, instead of tiles of zeros and "not available" charts."""
    totals = report.get("totals") or {}
    counts = [totals.get(name) for name in ("conversations", "offered", "outbound", "handle_count")]
    return not any(counts)


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return NOT_AVAILABLE
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} m {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} m"


def format_percent(value: float | None) -> str:
    return NOT_AVAILABLE if value is None else f"{value:.1f} %"


def format_count(value: float | None) -> str:
    return NOT_AVAILABLE if value is None else f"{round(value):,}"


_FORMATS = {"count": format_count, "duration": format_duration, "percent": format_percent}


def format_kpi(key: str, value: float | None) -> str:
    return _FORMATS[KPIS[key].kind](value)


def service_level_target(report: Mapping[str, Any]) -> tuple[float | None, str]:
    """The service-level goal of the report as a percentage, and its text: "80 % in 20 s"
    where the queues' threshold is known and the same for all of the report, else the goal
    oServiceLevel reported, weighted by each queue's traffic ("target 84.3 %")."""
    goal = report.get("service_level_goal")
    if isinstance(goal, Mapping):
        percent = float(goal["percentage"]) * 100
        seconds = float(goal["duration_ms"]) / 1000
        return percent, f"target {percent:g} % in {format_duration(seconds)}"
    totals = report.get("totals") or {}
    weight = _number(totals, "sl_target_weight")
    target_sum = _number(totals, "sl_target_sum")
    if not weight or target_sum is None:
        return None, ""
    percent = target_sum / weight * 100
    return percent, f"target {percent:.1f} %"


def kpi_delta(key: str, value: float | None, before: float | None) -> tuple[str, str]:
    """(text, direction) of a KPI's change from the previous period: points for a percentage,
    m:ss-style time for a duration, the count and its percentage for a count."""
    if value is None or before is None:
        return "", ""
    change = value - before
    direction = "up" if change > 0 else "down" if change < 0 else "same"
    sign = "+" if change > 0 else "−" if change < 0 else "±"
    kind = KPIS[key].kind
    if kind == "percent":
        return f"{sign}{abs(change):.1f} pts", direction
    if kind == "duration":
        return f"{sign}{format_duration(abs(change))}", direction
    relative = f" ({sign}{abs(change) / before * 100:.0f} %)" if before else ""
    return f"{sign}{abs(round(change)):,}{relative}", direction


def kpi_tiles(
    report: Mapping[str, Any],
    *,
    previous: Mapping[str, Any] | None = None,
    previous_label: str = "",
) -> list[dict[str, str]]:
    """The KPI tiles over the report's whole range, in display order, each with its formula
    and, for the service level, its target and whether it was met; with `previous` (the same
    report a day or week earlier), each tile's change since then."""
    totals = report.get("totals") or {}
    before_totals = (previous or {}).get("totals") or {}
    target, target_text = service_level_target(report)
    tiles = []
    for key in TILE_KEYS:
        kpi = KPIS[key]
        if not _given(kpi, totals, source=str(report.get("source", ""))):
            continue
        value = kpi.value(totals)
        tile = {
            "key": key,
            "label": kpi.label,
            "value": format_kpi(key, value),
            "hint": kpi.hint,
            "formula": kpi.formula,
            "status": "",
        }
        if previous is not None:
            delta, direction = kpi_delta(key, value, kpi.value(before_totals))
            if delta:
                tile.update(delta=f"{delta} vs {previous_label}", delta_direction=direction)
        if key == "service_level_pct":
            tile["hint"] = target_text
            if target is not None and value is not None:
                # Compared on the shown value, so "79.96 %" never reads as met at "80.0 %".
                tile["status"] = "met" if round(value, 1) >= round(target, 1) else "missed"
        tiles.append(tile)
    return tiles


def _day_label(moment: datetime) -> str:
    return f"{moment:%a} {moment.day} {moment:%b}"


def bucket_label(start: str, *, granularity: str, multi_day: bool) -> str:
    """A chart/table label from a bucket's ISO start, already in the report's zone: never
    converted, so a supervisor in another zone reads the contact centre's own clock."""
    moment = datetime.fromisoformat(start)
    if granularity == "P1D":
        return _day_label(moment)
    return f"{_day_label(moment)} {moment:%H:%M}" if multi_day else f"{moment:%H:%M}"


def bucket_labels(
    buckets: Sequence[Mapping[str, Any]], *, granularity: str, multi_day: bool
) -> list[str]:
    """Each bucket's label; the hour a DST change repeats says its offset, so its two buckets
    never read as one hour drawn twice ("01:00 (UTC-05:00)", "01:00 (UTC-06:00)")."""
    labels = [
        bucket_label(str(b["start"]), granularity=granularity, multi_day=multi_day) for b in buckets
    ]
    seen: dict[str, int] = {}
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
    for index, label in enumerate(labels):
        if seen[label] > 1:
            offset = datetime.fromisoformat(str(buckets[index]["start"])).strftime("%z")
            labels[index] = f"{label} (UTC{offset[:3]}:{offset[3:]})"
    return labels


def _is_major(start: str, *, granularity: str, multi_day: bool) -> bool:
    moment = datetime.fromisoformat(start)
    if granularity == "P1D" or not multi_day:
        return granularity == "P1D" or moment.minute == 0
    return moment.hour == 0 and moment.minute == 0


def bucket_title(bucket: Mapping[str, Any], *, granularity: str) -> str:
    """A chart tooltip's title: the bucket's day and span with its UTC offset, so the two
    01:00 buckets of the day DST ends can be told apart."""
    start = datetime.fromisoformat(str(bucket["start"]))
    end = datetime.fromisoformat(str(bucket["end"]))
    offset = start.strftime("%z")  # "-0500"; shown as "UTC-05:00"
    zone = f"(UTC{offset[:3]}:{offset[3:]})" if offset else "(UTC)"
    if granularity == "P1D":
        return f"{_day_label(start)} {zone}"
    return f"{_day_label(start)} {start:%H:%M}–{end:%H:%M} {zone}"


def report_spans_days(report: Mapping[str, Any]) -> bool:
    buckets = report.get("buckets") or []
    return len({str(b["start"])[:10] for b in buckets}) > 1


def incomplete_bucket(report: Mapping[str, Any]) -> int | None:
    """The index of the bucket that was still filling when the report was fetched (it holds the
    fetch time): Genesys posts a metric when it completes, so that bucket is not final."""
    as_of_text = report.get("as_of")
    if not as_of_text:
        return None
    as_of = datetime.fromisoformat(str(as_of_text))
    for index, bucket in enumerate(report.get("buckets") or []):
        start = datetime.fromisoformat(str(bucket["start"]))
        end = datetime.fromisoformat(str(bucket["end"]))
        if start <= as_of < end:
            return index
    return None


def table_columns(report: Mapping[str, Any]) -> list[dict[str, str]]:
    """The bucket table's columns after the start: the KPIs the source gives."""
    totals = report.get("totals") or {}
    source = str(report.get("source", ""))
    return [
        {"key": key, "label": KPIS[key].label, "formula": KPIS[key].formula}
        for key in TABLE_KEYS
        if _given(KPIS[key], totals, source=source)
    ]


def table_rows(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The bucket table under the charts: one row per bucket, its cells formatted in the
    order of table_columns; the bucket still filling says so and shows no rates."""
    spec = report.get("spec") or {}
    granularity = str(spec.get("granularity", ""))
    multi_day = report_spans_days(report)
    keys = [column["key"] for column in table_columns(report)]
    filling = incomplete_bucket(report)
    buckets = report.get("buckets") or []
    labels = bucket_labels(buckets, granularity=granularity, multi_day=multi_day)
    rows = []
    for index, bucket in enumerate(buckets):
        derived = bucket_derive(bucket)
        complete = index != filling
        rows.append(
            {
                "label": labels[index],
                "start": bucket["start"],
                "complete": complete,
                "cells": [
                    format_kpi(key, derived[key] if complete or not KPIS[key].is_rate else None)
                    for key in keys
                ],
            }
        )
    return rows


def round1(value: float | None) -> float | None:
    """One decimal for a chart point, halves rounded up: Python's round() rounds them to even,
    so a 20.25 s average would read 20.2 in the tooltip."""
    return None if value is None else math.floor(value * 10 + 0.5) / 10


# The look of each series, for dashboard.js to colour (presentation only; everything read and
# every number is here).
_STYLES = {
    "conversations": "volume",
    "offered": "volume",
    "avg_duration": "time",
    "aht": "time",
    "avg_wait": "wait",
    "asa": "asa",
    "service_level_pct": "service",
    "abandon_pct": "abandon",
    "sl_target": "target",
}


def _dataset(
    key: str, label: str, values: Sequence[float | None], *, kind: str = "line", axis: str = "y"
) -> dict[str, Any]:
    return {
        "key": key,
        "style": _STYLES[key],
        "label": label,
        "type": kind,
        "axis": axis,
        # How the page writes a value of it (tooltips): durations are seconds, shown as m:ss.
        "format": KPIS[key].kind if key in KPIS else "percent",
        "data": list(values),
    }


def _axis(
    title: str, *, position: str = "left", percent: bool = False, duration: bool = False
) -> dict[str, Any]:
    # Counts and seconds start at zero and grow with the data; a percentage axis is 0-100.
    return {
        "title": title,
        "position": position,
        "min": 0 if percent else None,
        "max": 100 if percent else None,
        # Ticks: "duration" as m:ss or h:mm (the values are seconds), never raw seconds.
        "format": "duration" if duration else "percent" if percent else "count",
    }


_IN_TITLE = {"avg_duration": "average duration", "aht": "average handle time"}


def report_charts(
    report: Mapping[str, Any],
    *,
    previous: Mapping[str, Any] | None = None,
    previous_label: str = "",
) -> dict[str, Any]:
    """The page's three charts, ready for Chart.js: one label and one tooltip title per
    bucket, and per chart its title, datasets (values derived and rounded here) and axes.

    The volume chart's second line is the average duration where the source has one, else AHT
    (the aggregates source has no duration). The service chart holds SL % with its target and
    abandon %, None when the source has no offered/answered counts. The bucket still filling
    is titled "so far" and left out of the rate lines."""
    spec = report.get("spec") or {}
    granularity = str(spec.get("granularity", ""))
    buckets = report.get("buckets") or []
    totals = report.get("totals") or {}
    multi_day = report_spans_days(report)
    derived = [bucket_derive(bucket) for bucket in buckets]
    filling = incomplete_bucket(report)

    def series(name: str) -> list[float | None]:
        rate = KPIS[name].is_rate
        return [
            None if rate and index == filling else round1(values[name])
            for index, values in enumerate(derived)
        ]

    # The previous period, bucket for bucket (a DST day has a bucket more or less: not drawn).
    before = (previous or {}).get("buckets") or []
    overlay = previous is not None and len(before) == len(buckets)
    before_derived = [bucket_derive(bucket) for bucket in before] if overlay else []

    def earlier(name: str, label: str, *, axis: str = "y") -> dict[str, Any]:
        values = [round1(values[name]) for values in before_derived]
        found = _dataset(name, f"{label} ({previous_label})", values, axis=axis)
        found["style"] = "previous"
        return found

    titles = [bucket_title(b, granularity=granularity) for b in buckets]
    if filling is not None:
        titles[filling] += f" ({SO_FAR})"

    second = "avg_duration" if _given(KPIS["avg_duration"], totals) else "aht"
    second_label = KPIS[second].label
    bars = "offered" if _given(KPIS["offered"], totals) else "conversations"
    volume: dict[str, Any] = {
        "title": f"{KPIS[bars].label} and {_IN_TITLE[second]}",
        "datasets": [
            _dataset(bars, KPIS[bars].label, [_number(b, bars) for b in buckets], kind="bar"),
            _dataset(second, second_label, series(second), axis="y1"),
        ],
        "axes": {
            "y": _axis(KPIS[bars].label),
            "y1": _axis(second_label, position="right", duration=True),
        },
    }
    if overlay:
        volume["datasets"].append(earlier(bars, KPIS[bars].label))

    asa = series("asa")
    wait = [_dataset("avg_wait", "Avg wait", series("avg_wait"))]
    if any(value is not None for value in asa):
        wait.append(_dataset("asa", "ASA", asa))
    service = None
    if report_has_contact_centre_metrics(report):
        datasets = [
            _dataset(
                "service_level_pct",
                "Service level % (in threshold ÷ answered + abandoned)",
                series("service_level_pct"),
            ),
            _dataset("abandon_pct", "Abandon % (abandoned ÷ offered)", series("abandon_pct")),
        ]
        target, target_text = service_level_target(report)
        if target is not None:
            datasets.append(
                _dataset("sl_target", target_text.capitalize(), [round1(target)] * len(buckets))
            )
        if overlay:
            datasets.append(earlier("service_level_pct", "Service level %"))
        service = {
            "title": "Service level and abandon rate",
            "datasets": datasets,
            "axes": {"y": _axis("%", percent=True)},
        }
    return {
        "labels": bucket_labels(buckets, granularity=granularity, multi_day=multi_day),
        "titles": titles,
        # Each bucket's start, for a click on it to open its conversations (drill-down).
        "starts": [b["start"] for b in buckets],
        # Which buckets may carry an axis label: those that start a whole hour (a day, when
        # the report spans days) on the report's own clock, never "10:30" or "01:15".
        "major": [
            _is_major(b["start"], granularity=granularity, multi_day=multi_day) for b in buckets
        ],
        "volume": volume,
        "wait": {
            "title": "Average wait",
            "datasets": wait,
            "axes": {"y": _axis("Time in queue", duration=True)},
        },
        "service": service,
        "has_asa": len(wait) > 1,
    }


def export_rows(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One dict per bucket with EXPORT_COLUMNS: counts and sums as stored (seconds), derived
    values rounded to milliseconds, None where the source gives no value; `complete` is False
    for the bucket still filling when the report was fetched."""
    filling = incomplete_bucket(report)
    target, _ = service_level_target(report)
    rows = []
    for index, bucket in enumerate(report.get("buckets") or []):
        derived = {
            name: None if value is None else round(value, 3)
            for name, value in bucket_derive(bucket).items()
        }
        row = {column: derived.get(column, bucket.get(column)) for column in EXPORT_COLUMNS}
        row["complete"] = index != filling
        row["sl_target_pct"] = None if target is None else round(target, 3)
        rows.append(row)
    return rows
