"""KPIs: the averages, percentages, labels and chart series derived from a report's counts.

The cache stores counts and sums only (they roll up exactly); everything a person reads is derived
here, once, for the page, its redraws (views.report_panel), the exports and the KPI tiles alike.
dashboard.js only draws what this module computed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

# One row per bucket in the CSV and JSON exports, in this column order.
EXPORT_COLUMNS = (
    "start",
    "end",
    "conversations",
    "duration_sum",
    "duration_count",
    "avg_duration",
    "wait_sum",
    "wait_count",
    "avg_wait",
    "hold_sum",
    "hold_count",
    "avg_hold",
    "offered",
    "answered",
    "abandoned",
    "answered_in_sl",
    "abandon_pct",
    "service_level_pct",
    "answer_sum",
    "asa",
    "handle_sum",
    "handle_count",
    "aht",
    "talk_sum",
    "acw_sum",
)

NOT_AVAILABLE = "n/a"


def _number(bucket: Mapping[str, Any], name: str) -> float | None:
    value = bucket.get(name)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def _percent(numerator: float | None, denominator: float | None) -> float | None:
    ratio = _ratio(numerator, denominator)
    return None if ratio is None else ratio * 100


def bucket_derive(bucket: Mapping[str, Any]) -> dict[str, float | None]:
    """Averages (seconds) and percentages of one bucket or of the totals; None when unknown."""
    n = bucket.get
    return {
        "avg_duration": _ratio(_number(bucket, "duration_sum"), n("duration_count")),
        "avg_wait": _ratio(_number(bucket, "wait_sum"), n("wait_count")),
        "avg_hold": _ratio(_number(bucket, "hold_sum"), n("hold_count")),
        # Genesys has several abandon and service-level formulas; these are the plain ones:
        # abandoned / offered, and answered within the target / answered.
        "abandon_pct": _percent(_number(bucket, "abandoned"), n("offered")),
        "service_level_pct": _percent(_number(bucket, "answered_in_sl"), n("answered")),
        "asa": _ratio(_number(bucket, "answer_sum"), n("answered")),
        "aht": _ratio(_number(bucket, "handle_sum"), n("handle_count")),
    }


def report_has_contact_centre_metrics(report: Mapping[str, Any]) -> bool:
    """Whether the source gave offered/answered/abandoned (so SL %, abandon % and AHT exist)."""
    totals = report.get("totals") or {}
    return "offered" in totals or "answered" in totals


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


def kpi_tiles(report: Mapping[str, Any]) -> list[dict[str, str]]:
    """The KPI tiles over the report's whole range, in display order."""
    totals = report.get("totals") or {}
    derived = bucket_derive(totals)
    tiles = [
        ("conversations", "Conversations", format_count(_number(totals, "conversations")), ""),
        ("avg_duration", "Avg duration", format_duration(derived["avg_duration"]), ""),
        ("avg_wait", "Avg wait", format_duration(derived["avg_wait"]), ""),
        ("avg_hold", "Avg hold", format_duration(derived["avg_hold"]), ""),
        ("offered", "Offered", format_count(_number(totals, "offered")), ""),
        ("answered", "Answered", format_count(_number(totals, "answered")), ""),
        ("abandon_pct", "Abandon %", format_percent(derived["abandon_pct"]), "abandoned ÷ offered"),
        (
            "service_level_pct",
            "Service level %",
            format_percent(derived["service_level_pct"]),
            "in target ÷ answered",
        ),
        ("asa", "ASA", format_duration(derived["asa"]), "speed of answer"),
        ("aht", "AHT", format_duration(derived["aht"]), "handle time"),
    ]
    return [{"key": k, "label": label, "value": v, "hint": hint} for k, label, v, hint in tiles]


def _day_label(moment: datetime) -> str:
    return f"{moment:%a} {moment.day} {moment:%b}"


def bucket_label(start: str, *, granularity: str, multi_day: bool) -> str:
    """A chart/table label from a bucket's ISO start, already in the report's zone: never
    converted, so a supervisor in another zone reads the contact centre's own clock."""
    moment = datetime.fromisoformat(start)
    if granularity == "P1D":
        return _day_label(moment)
    return f"{_day_label(moment)} {moment:%H:%M}" if multi_day else f"{moment:%H:%M}"


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


def table_rows(report: Mapping[str, Any]) -> list[dict[str, str]]:
    """The bucket table under the charts: formatted strings, one dict per bucket."""
    spec = report.get("spec") or {}
    granularity = str(spec.get("granularity", ""))
    multi_day = report_spans_days(report)
    rows = []
    for bucket in report.get("buckets") or []:
        derived = bucket_derive(bucket)
        rows.append(
            {
                "label": bucket_label(
                    bucket["start"], granularity=granularity, multi_day=multi_day
                ),
                "start": bucket["start"],
                "conversations": format_count(_number(bucket, "conversations")),
                "avg_duration": format_duration(derived["avg_duration"]),
                "avg_wait": format_duration(derived["avg_wait"]),
                "avg_hold": format_duration(derived["avg_hold"]),
                "offered": format_count(_number(bucket, "offered")),
                "answered": format_count(_number(bucket, "answered")),
                "abandon_pct": format_percent(derived["abandon_pct"]),
                "service_level_pct": format_percent(derived["service_level_pct"]),
                "aht": format_duration(derived["aht"]),
            }
        )
    return rows


def _round1(value: float | None) -> float | None:
    """One decimal for a chart point, halves rounded up: Python's round() rounds them to even,
    so a 20.25 s average would read 20.2 in the tooltip."""
    return None if value is None else math.floor(value * 10 + 0.5) / 10


def _dataset(
    key: str, label: str, values: Sequence[float | None], *, kind: str = "line", axis: str = "y"
) -> dict[str, Any]:
    # `key` names the metric so dashboard.js can pick its colour; everything read is here.
    return {"key": key, "label": label, "type": kind, "axis": axis, "data": list(values)}


def _axis(title: str, *, position: str = "left", percent: bool = False) -> dict[str, Any]:
    # Counts and seconds start at zero and grow with the data; a percentage axis is 0-100.
    return {
        "title": title,
        "position": position,
        "min": 0 if percent else None,
        "max": 100 if percent else None,
    }


def report_charts(report: Mapping[str, Any]) -> dict[str, Any]:
    """The page's three charts, ready for Chart.js: one label and one tooltip title per
    bucket, and per chart its datasets (values derived and rounded here) and axes. A chart the
    source cannot fill (no offered/answered counts) is None, and so is the ASA line when no
    bucket has an answer time."""
    spec = report.get("spec") or {}
    granularity = str(spec.get("granularity", ""))
    buckets = report.get("buckets") or []
    multi_day = report_spans_days(report)
    derived = [bucket_derive(bucket) for bucket in buckets]

    def series(name: str) -> list[float | None]:
        return [_round1(values[name]) for values in derived]

    asa = series("asa")
    wait = [_dataset("avg_wait", "Avg wait (s)", series("avg_wait"))]
    if any(value is not None for value in asa):
        wait.append(_dataset("asa", "ASA (s)", asa))
    service = None
    if report_has_contact_centre_metrics(report):
        service = {
            "datasets": [
                _dataset(
                    "service_level_pct",
                    "Service level % (answered in target / answered)",
                    series("service_level_pct"),
                ),
                _dataset("abandon_pct", "Abandon % (abandoned / offered)", series("abandon_pct")),
            ],
            "axes": {"y": _axis("%", percent=True)},
        }
    return {
        "labels": [
            bucket_label(b["start"], granularity=granularity, multi_day=multi_day) for b in buckets
        ],
        "titles": [bucket_title(b, granularity=granularity) for b in buckets],
        "volume": {
            "datasets": [
                _dataset(
                    "conversations",
                    "Conversations",
                    [_number(b, "conversations") for b in buckets],
                    kind="bar",
                ),
                _dataset("avg_duration", "Avg duration (s)", series("avg_duration"), axis="y1"),
            ],
            "axes": {
                "y": _axis("Conversations"),
                "y1": _axis("Avg duration (s)", position="right"),
            },
        },
        "wait": {"datasets": wait, "axes": {"y": _axis("Seconds")}},
        "service": service,
        "has_asa": len(wait) > 1,
    }


def export_rows(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One dict per bucket with EXPORT_COLUMNS: counts and sums as stored (seconds), derived
    averages rounded to milliseconds, None where the source gives no value."""
    rows = []
    for bucket in report.get("buckets") or []:
        derived = {
            name: None if value is None else round(value, 3)
            for name, value in bucket_derive(bucket).items()
        }
        rows.append({column: derived.get(column, bucket.get(column)) for column in EXPORT_COLUMNS})
    return rows
