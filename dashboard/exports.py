"""Exports an analyst can use: CSV, JSON and XLSX of one report, each carrying what it is (the
filters by name, range, time zone, source, as of) and columns that say their units.

A column's name says its unit: `_s` seconds (stored sums and average times), `_pct` a
percentage (0-100); counts are bare. `start` and `end` are local times of the report's zone
without an offset (spreadsheets parse them), `start_utc` the same instant in UTC, exact across a
DST change. The last row is the total ("total" in `start`, or the breakdown's Total row).

CSV: the description first, as `# name: value` lines (pandas: `read_csv(path, comment="#")`),
then the header and rows. JSON: `meta` and `rows`. XLSX: the description at the top of the sheet,
then a table of typed cells (numbers, dates, booleans).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from dashboard import breakdowns, kpis

# A bucket export's own columns before the counts and KPIs.
TIME_COLUMNS = ("start", "end", "start_utc", "complete")
TOTAL = "total"


def column_name(key: str) -> str:
    """The exported name of a stored field or KPI, with its unit."""
    kpi = kpis.KPIS.get(key)
    if kpi is not None and kpi.key not in kpis.STORED_COLUMNS:
        if kpi.kind == "duration":
            return f"{key.removesuffix('_time')}_s"
        if kpi.kind == "percent" and not key.endswith("_pct"):
            return f"{key}_pct"
        return key
    return f"{key}_s" if key.endswith("_sum") else key


@dataclass(frozen=True)
class ExportDocument:
    meta: dict[str, str]
    columns: list[str]
    rows: list[dict[str, Any]]
    filename_stem: str


def _measure_columns(columns: Sequence[str]) -> dict[str, str]:
    """Source key -> exported name, for the count, sum and KPI columns of kpis/breakdowns."""
    return {key: column_name(key) for key in columns}


def bucket_document(
    report: Mapping[str, Any], *, meta: dict[str, str], filename_stem: str
) -> ExportDocument:
    """One row per bucket, then the total row."""
    zone = _zone_of(report)
    measures = [c for c in kpis.EXPORT_COLUMNS if c not in ("start", "end", "complete")]
    names = _measure_columns(measures)
    rows = []
    for row in kpis.export_rows(report):
        start = datetime.fromisoformat(str(row["start"]))
        end = datetime.fromisoformat(str(row["end"]))
        rows.append(
            {
                "start": _local(start, zone),
                "end": _local(end, zone),
                "start_utc": _utc(start),
                "complete": row["complete"],
                **{names[key]: row[key] for key in measures},
            }
        )
    totals = report.get("totals") or {}
    total: dict[str, Any] = dict.fromkeys(TIME_COLUMNS)
    total["start"] = TOTAL
    total.update({names[key]: _total_value(key, totals, report) for key in measures})
    rows.append(total)
    return ExportDocument(meta, [*TIME_COLUMNS, *names.values()], rows, filename_stem)


def breakdown_document(
    report: Mapping[str, Any],
    *,
    names: Mapping[str, str],
    meta: dict[str, str],
    filename_stem: str,
) -> ExportDocument:
    """One row per group (its id and name beside each other), then the Total row."""
    measures = [c for c in breakdowns.EXPORT_COLUMNS if c not in ("group", "id", "name")]
    renamed = _measure_columns(measures)
    rows = [
        {
            "group": row["group"],
            "id": row["id"],
            "name": row["name"],
            **{renamed[key]: row[key] for key in measures},
        }
        for row in breakdowns.export_rows(report, names=names)
    ]
    return ExportDocument(meta, ["group", "id", "name", *renamed.values()], rows, filename_stem)


def _total_value(key: str, totals: Mapping[str, Any], report: Mapping[str, Any]) -> Any:
    if key == "sl_target_pct":
        target, _ = kpis.service_level_target(report)
        return None if target is None else round(target, 3)
    kpi = kpis.KPIS.get(key)
    if kpi is not None and key not in kpis.STORED_COLUMNS:
        value = kpi.value(totals)
        return None if value is None else round(value, 3)
    return totals.get(key)


def _zone_of(report: Mapping[str, Any]) -> ZoneInfo:
    return ZoneInfo(str((report.get("spec") or {}).get("time_zone") or "UTC"))


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M:%S}"


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def filename(stem: str, extension: str) -> str:
    """A file name of letters, digits, '-', '_' and '.', whatever the queue names hold."""
    return f"{re.sub(r'[^A-Za-z0-9._+-]+', '-', stem).strip('-')}.{extension}"


# --- renderers --------------------------------------------------------------------------------


def csv_bytes(document: ExportDocument) -> bytes:
    buffer = io.StringIO()
    for name, value in document.meta.items():
        # The description never breaks the table: one line each, no stray newlines.
        buffer.write(f"# {name}: {' '.join(str(value).split())}\n")
    writer = csv.DictWriter(buffer, fieldnames=document.columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(document.rows)
    return buffer.getvalue().encode()


def json_bytes(document: ExportDocument, *, extra: Mapping[str, Any]) -> bytes:
    return orjson.dumps(
        {"meta": document.meta, **extra, "columns": document.columns, "rows": document.rows},
        option=orjson.OPT_INDENT_2,
    )


def xlsx_bytes(document: ExportDocument) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Report"
    for name, value in document.meta.items():
        sheet.append([name, value])
        sheet.cell(row=sheet.max_row, column=1).font = Font(bold=True)
    sheet.append([])
    sheet.append(document.columns)
    header_row = sheet.max_row
    for cell in sheet[header_row]:
        cell.font = Font(bold=True)
    for row in document.rows:
        sheet.append([_typed(column, row.get(column)) for column in document.columns])
    for column in ("start", "end"):
        if column in document.columns:
            index = document.columns.index(column) + 1
            for (cell,) in sheet.iter_rows(min_row=header_row + 1, min_col=index, max_col=index):
                if isinstance(cell.value, datetime):
                    cell.number_format = "yyyy-mm-dd hh:mm"
    sheet.freeze_panes = sheet.cell(row=header_row + 1, column=1)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _typed(column: str, value: Any) -> Any:
    """A cell's value as its type: local times as dates (naive: spreadsheets have no zones)."""
    if column in ("start", "end") and isinstance(value, str) and value != TOTAL:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    return value
