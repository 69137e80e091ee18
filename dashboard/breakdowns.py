"""A breakdown as a person reads it: one table row and one chart line per queue, media type,
direction or agent, by name, with the report's total row; and the per-media-type figures of a
report that mixes media types.

Every value is a KPI of dashboard.kpis (defined once there) applied to a group's counts and sums;
the total row applies it to the report's own totals (summed counts, never an average of the
rows' percentages). A new column is a KPI key in a *_TABLE_KEYS tuple below.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dashboard import kpis
from dashboard.forms import GROUP_LABELS, MEDIA_TYPE_LABELS

QUEUE_TABLE_KEYS = (
    "offered",
    "answered",
    "abandoned",
    "abandon_pct",
    "flowed_out",
    "service_level_pct",
    "asa",
    "avg_wait",
    "aht",
    "avg_hold",
    "transferred",
)
AGENT_TABLE_KEYS = (
    "handled",
    "aht",
    "avg_talk",
    "avg_hold",
    "avg_acw",
    "transferred",
    "outbound",
    "on_queue_time",
    "interacting_time",
    "idle_time",
    "not_responding_time",
    "occupancy",
)
# The KPIs a breakdown charts, one line per group; their inputs are the fields each group keeps
# per bucket (normalize.GROUP_SERIES_FIELDS).
QUEUE_CHART_KEYS = ("offered", "service_level_pct", "abandon_pct", "asa", "avg_wait", "aht")
AGENT_CHART_KEYS = ("handled", "aht")
TOP_GROUPS = 8
# One colour per rank (the largest group first), the same in the table's swatch and the chart;
# the last is "Others". Picked to stay apart for the common colour-vision deficiencies.
GROUP_COLOURS = (
    "#1f5fbf",
    "#e8772e",
    "#1a7f4b",
    "#c0392b",
    "#7a4cc2",
    "#0f8b8d",
    "#b5497a",
    "#8a6d1f",
    "#6b7785",
)
OTHERS = "Others"
MEDIA_LABELS = MEDIA_TYPE_LABELS
UNKNOWN_QUEUE = "not in the queue list: deleted, or outside this client's divisions"
NO_AGENT_NOTE = (
    "Offers no agent handled (abandoned, flowed out, still waiting) count in the total only."
)


def table_keys(group: str) -> tuple[str, ...]:
    return AGENT_TABLE_KEYS if group == "agent" else QUEUE_TABLE_KEYS


def chart_keys(group: str) -> tuple[str, ...]:
    return AGENT_CHART_KEYS if group == "agent" else QUEUE_CHART_KEYS


def group_label(group: str, group_id: str, names: Mapping[str, str]) -> tuple[str, str]:
    """(label, note) of one group: its name, or its id with why there is no name."""
    if group == "media":
        return MEDIA_LABELS.get(group_id, group_id or "(no media type)"), ""
    if group == "direction":
        return (group_id.capitalize() or "(no direction)"), ""
    if group_id in names:
        return names[group_id], ""
    if group == "queue":
        return group_id or "(no queue)", UNKNOWN_QUEUE if group_id else ""
    if not names:
        return group_id, "name not loaded yet"
    return group_id, "not in the user list (removed, or outside this client's divisions)"


def _groups_shown(report: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The report's groups as the table lists them. An agent breakdown leaves out the group
    without an agent: it holds the queues' own metrics, which have no agent columns."""
    groups = report.get("groups") or []
    if report_group(report) == "agent":
        return [g for g in groups if g["id"]]
    return list(groups)


def report_group(report: Mapping[str, Any]) -> str:
    return str((report.get("spec") or {}).get("group") or "")


def _cell(key: str, totals: Mapping[str, Any], report: Mapping[str, Any]) -> dict[str, Any]:
    value = kpis.KPIS[key].value(totals)
    cell: dict[str, Any] = {
        "text": kpis.format_kpi(key, value),
        "sort": "" if value is None else repr(round(value, 6)),
        "status": "",
    }
    if key == "service_level_pct" and value is not None:
        # The queue's own goal (each group of a queue breakdown has one), else the report's.
        target, _ = kpis.service_level_target(
            {"service_level_goal": report.get("service_level_goal"), "totals": totals}
        )
        if target is not None:
            cell["status"] = "met" if round(value, 1) >= round(target, 1) else "missed"
            cell["title"] = f"target {target:.1f} %"
    return cell


def breakdown_table(
    report: Mapping[str, Any], *, names: Mapping[str, str]
) -> dict[str, Any] | None:
    """The breakdown's table: columns, one row per group (largest first, with its colour,
    label and cells) and the total row; None for a report without a breakdown."""
    group = report_group(report)
    if not group:
        return None
    keys = table_keys(group)
    rows = []
    for rank, found in enumerate(_groups_shown(report)):
        label, note = group_label(group, str(found["id"]), names)
        rows.append(
            {
                "id": found["id"],
                "label": label,
                "note": note,
                "colour": GROUP_COLOURS[min(rank, TOP_GROUPS)],
                "cells": [_cell(key, found["totals"], report) for key in keys],
            }
        )
    totals = report.get("totals") or {}
    return {
        "group": group,
        "label": GROUP_LABELS[group],
        "columns": [
            {"key": key, "label": kpis.KPIS[key].label, "formula": kpis.KPIS[key].formula}
            for key in keys
        ],
        "rows": rows,
        "total": [_cell(key, totals, report) for key in keys],
        "note": NO_AGENT_NOTE if group == "agent" else "",
    }


def _summed(series: Sequence[Mapping[str, Sequence[float]]], size: int) -> dict[str, list[float]]:
    summed: dict[str, list[float]] = {}
    for one in series:
        for name, values in one.items():
            column = summed.setdefault(name, [0.0] * size)
            for index, value in enumerate(values):
                column[index] += value
    return summed


def breakdown_charts(
    report: Mapping[str, Any], *, names: Mapping[str, str]
) -> dict[str, Any] | None:
    """One line per group for each chartable KPI: the TOP_GROUPS largest, then "Others" (their
    counts summed, then the KPI taken), in the table's colours. The bucket still filling is
    left out of the rate lines, as on the report's own charts."""
    group = report_group(report)
    if not group:
        return None
    groups = _groups_shown(report)
    size = len(report.get("buckets") or [])
    filling = kpis.incomplete_bucket(report)
    lines: list[tuple[str, str, Mapping[str, Sequence[float]]]] = [
        (group_label(group, str(g["id"]), names)[0], GROUP_COLOURS[rank], g["series"])
        for rank, g in enumerate(groups[:TOP_GROUPS])
    ]
    # The group of each line, for a click to drill into (None: Others, the bucket as a whole).
    ids: list[str | None] = [str(g["id"]) for g in groups[:TOP_GROUPS]]
    if len(groups) > TOP_GROUPS:
        ids.append(None)
        others = _summed([g["series"] for g in groups[TOP_GROUPS:]], size)
        lines.append((f"{OTHERS} ({len(groups) - TOP_GROUPS})", GROUP_COLOURS[TOP_GROUPS], others))
    charts = []
    for key in chart_keys(group):
        kpi = kpis.KPIS[key]
        datasets = []
        for label, colour, series in lines:
            data = [
                None if value is None else kpis.round1(value) for value in kpi.values(series, size)
            ]
            if kpi.is_rate and filling is not None:
                data[filling] = None
            datasets.append({"label": label, "colour": colour, "data": data})
        charts.append({"key": key, "label": kpi.label, "kind": kpi.kind, "datasets": datasets})
    return {
        "group": group,
        "title": f"Per {GROUP_LABELS[group].lower()}",
        "ids": ids,
        "kpis": charts,
    }


def media_rows(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per media type, offered, SL % (with its goal), ASA and average wait, when the report
    mixes media types with offers (one voice SL must not hide an e-mail backlog, nor the
    reverse); [] when it has one media type or breaks down by media already."""
    media = report.get("media") or {}
    offered = {name: totals for name, totals in media.items() if totals.get("offered")}
    if len(offered) < 2 or report_group(report) == "media":
        return []
    rows = []
    for name, totals in sorted(offered.items(), key=lambda item: -item[1]["offered"]):
        rows.append(
            {
                "label": MEDIA_LABELS.get(name, name),
                "cells": [
                    _cell(key, totals, report)
                    for key in ("offered", "service_level_pct", "asa", "avg_wait")
                ],
            }
        )
    return rows


# A breakdown's export: one row per group's totals, then the total row; the counts and sums as
# stored, then every KPI (as the plain report's export has them per bucket).
EXPORT_COLUMNS = (
    "group",
    "id",
    "name",
    *kpis.STORED_COLUMNS,
    *(key for key in kpis.KPIS if key not in kpis.STORED_COLUMNS),
    "sl_target_pct",
)
TOTAL = "Total"


def export_rows(report: Mapping[str, Any], *, names: Mapping[str, str]) -> list[dict[str, Any]]:
    group = report_group(report)
    found = [
        (str(g["id"]), group_label(group, str(g["id"]), names)[0], g["totals"])
        for g in report.get("groups") or []
    ]
    found.append(("", TOTAL, report.get("totals") or {}))
    rows = []
    for group_id, name, totals in found:
        derived = {
            key: None if value is None else round(value, 3)
            for key, value in kpis.bucket_derive(totals).items()
        }
        row = {column: derived.get(column, totals.get(column)) for column in EXPORT_COLUMNS}
        target, _ = kpis.service_level_target(
            {"service_level_goal": report.get("service_level_goal"), "totals": totals}
        )
        row.update(
            group=group,
            id=group_id,
            name=name,
            sl_target_pct=None if target is None else round(target, 3),
        )
        rows.append(row)
    return rows
