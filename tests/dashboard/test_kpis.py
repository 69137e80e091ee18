"""dashboard/kpis.py: every formula, format and label the page, its redraws and the exports
show. Expected values are worked out here from the bucket counts, not by calling kpis."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from dashboard import kpis
from tests.dashboard.helpers import DAY_QUERY, DST_DAY_QUERY, report_payload, spec_from_query

STATIC_DIR = Path(kpis.__file__).resolve().parent / "static" / "dashboard"
# The counts and sums a formula reads: none of them may appear in the page's own scripts.
FORMULA_INPUTS = re.compile(r"answered_in_sl|handle_sum|wait_sum|duration_sum|hold_sum|offered")

BUCKET = {
    "start": "2024-11-02T14:00:00-05:00",
    "end": "2024-11-02T15:00:00-05:00",
    "conversations": 40,
    "duration_sum": 9_000.0,
    "duration_count": 40,
    "wait_sum": 810.0,
    "wait_count": 36,
    "hold_sum": 140.0,
    "hold_count": 4,
    "offered": 40,
    "answered": 32,
    "abandoned": 8,
    "answered_in_sl": 24,
    "answer_sum": 416.0,
    "handle_sum": 9_600.0,
    "handle_count": 32,
    "talk_sum": 7_680.0,
    "acw_sum": 1_280.0,
}


def one_decimal(value: float) -> float:
    """A chart point as a person rounds it: halves up."""
    return float(Decimal(repr(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def report_of(*buckets: dict[str, Any], granularity: str = "PT1H") -> dict[str, Any]:
    totals: dict[str, Any] = {}
    for bucket in buckets:
        for name, value in bucket.items():
            if name not in ("start", "end"):
                totals[name] = totals.get(name, 0) + value
    return {"spec": {"granularity": granularity}, "buckets": list(buckets), "totals": totals}


def test_it_derives_averages_and_percentages_from_the_counts() -> None:
    assert kpis.bucket_derive(BUCKET) == {
        "avg_duration": 225.0,  # 9000 s / 40
        "avg_wait": 22.5,  # 810 s / 36
        "avg_hold": 35.0,  # 140 s / 4
        "abandon_pct": 20.0,  # 8 / 40 offered
        "service_level_pct": 75.0,  # 24 / 32 answered
        "asa": 13.0,  # 416 s / 32 answered
        "aht": 300.0,  # 9600 s / 32
    }


def test_it_leaves_unknown_what_the_source_does_not_give() -> None:
    graphql = {"conversations": 0, "duration_sum": 0.0, "duration_count": 0, "wait_count": 0}
    assert set(kpis.bucket_derive(graphql).values()) == {None}
    # A zero count is no average, not a division by zero.
    assert kpis.bucket_derive({**BUCKET, "answered": 0})["service_level_pct"] is None
    # A boolean is not a count.
    assert kpis.bucket_derive({**BUCKET, "abandoned": True})["abandon_pct"] is None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "n/a"),
        (0, "0 s"),
        (59.4, "59 s"),
        (59.6, "1 m 00 s"),
        (125, "2 m 05 s"),
        (3599, "59 m 59 s"),
        (3600, "1 h 00 m"),
        (7_500, "2 h 05 m"),
    ],
)
def test_it_formats_durations(seconds: float | None, text: str) -> None:
    assert kpis.format_duration(seconds) == text


def test_it_formats_percentages_and_counts() -> None:
    assert kpis.format_percent(None) == "n/a"
    assert kpis.format_percent(7.5) == "7.5 %"
    assert kpis.format_percent(100 * 2 / 3) == "66.7 %"
    assert kpis.format_count(None) == "n/a"
    assert kpis.format_count(1_234_567) == "1,234,567"
    assert kpis.format_count(12.6) == "13"


def test_it_builds_the_kpi_tiles_over_the_totals() -> None:
    second = {**BUCKET, "start": "2024-11-02T15:00:00-05:00", "end": "2024-11-02T16:00:00-05:00"}
    second.update(conversations=60, duration_sum=12_000.0, duration_count=60)
    tiles = kpis.kpi_tiles(report_of(BUCKET, second))
    assert [tile["key"] for tile in tiles] == [
        "conversations",
        "avg_duration",
        "avg_wait",
        "avg_hold",
        "offered",
        "answered",
        "abandon_pct",
        "service_level_pct",
        "asa",
        "aht",
    ]
    values = {tile["key"]: tile["value"] for tile in tiles}
    assert values["conversations"] == "100"
    # (9000 + 12000) s over 100 conversations: 210 s.
    assert values["avg_duration"] == "3 m 30 s"
    assert values["avg_wait"] == "22 s"  # 1620 s / 72 = 22.5 s, shown whole (half to even)
    assert values["abandon_pct"] == "20.0 %"  # 16 / 80
    assert values["service_level_pct"] == "75.0 %"  # 48 / 64
    assert values["asa"] == "13 s" and values["aht"] == "5 m 00 s"
    labels = {tile["key"]: (tile["label"], tile["hint"]) for tile in tiles}
    assert labels["service_level_pct"] == ("Service level %", "in target ÷ answered")
    assert labels["abandon_pct"] == ("Abandon %", "abandoned ÷ offered")


def test_it_shows_na_tiles_for_a_source_without_contact_centre_counts() -> None:
    report = report_payload(spec_from_query(DAY_QUERY))
    values = {tile["key"]: tile["value"] for tile in kpis.kpi_tiles(report)}
    for key in ("offered", "answered", "abandon_pct", "service_level_pct", "asa", "aht"):
        assert values[key] == "n/a"
    totals = report["totals"]
    assert values["conversations"] == f"{totals['conversations']:,}"
    assert kpis.report_has_contact_centre_metrics(report) is False


def test_it_formats_one_table_row_per_bucket() -> None:
    [row] = kpis.table_rows(report_of(BUCKET))
    assert row == {
        "label": "14:00",
        "start": "2024-11-02T14:00:00-05:00",
        "conversations": "40",
        "avg_duration": "3 m 45 s",
        "avg_wait": "22 s",  # 810 s / 36 = 22.5 s, whole seconds rounded half to even
        "avg_hold": "35 s",
        "offered": "40",
        "answered": "32",
        "abandon_pct": "20.0 %",
        "service_level_pct": "75.0 %",
        "aht": "5 m 00 s",
    }


def test_it_labels_buckets_in_the_reports_own_clock() -> None:
    spec = spec_from_query(DST_DAY_QUERY)
    rows = kpis.table_rows(report_payload(spec))
    assert [row["label"] for row in rows[:3]] == ["00:00", "01:00", "01:00"]
    two_days = DAY_QUERY.replace("end=2024-11-02", "end=2024-11-03")
    rows = kpis.table_rows(report_payload(spec_from_query(two_days)))
    assert rows[0]["label"] == "Sat 2 Nov 00:00" and rows[-1]["label"] == "Sun 3 Nov 23:00"
    daily = DAY_QUERY.replace("end=2024-11-02", "end=2024-11-03").replace("PT1H", "P1D")
    rows = kpis.table_rows(report_payload(spec_from_query(daily)))
    assert [row["label"] for row in rows] == ["Sat 2 Nov", "Sun 3 Nov"]


def test_it_computes_the_chart_series() -> None:
    report = report_payload(spec_from_query(DAY_QUERY), contact_centre=True)
    buckets = report["buckets"]
    charts = kpis.report_charts(report)
    assert len(charts["labels"]) == 24
    assert charts["labels"][14] == "14:00"
    assert charts["titles"][14] == "Sat 2 Nov 14:00–15:00 (UTC-05:00)"

    [conversations, duration] = charts["volume"]["datasets"]
    assert conversations == {
        "key": "conversations",
        "label": "Conversations",
        "type": "bar",
        "axis": "y",
        "data": [b["conversations"] for b in buckets],
    }
    assert duration["label"] == "Avg duration (s)" and duration["axis"] == "y1"
    assert duration["data"] == [
        one_decimal(b["duration_sum"] / b["duration_count"]) for b in buckets
    ]
    assert charts["volume"]["axes"] == {
        "y": {"title": "Conversations", "position": "left", "min": None, "max": None},
        "y1": {"title": "Avg duration (s)", "position": "right", "min": None, "max": None},
    }

    [wait] = charts["wait"]["datasets"]
    assert wait["label"] == "Avg wait (s)"
    assert wait["data"] == [one_decimal(b["wait_sum"] / b["wait_count"]) for b in buckets]
    assert charts["wait"]["axes"]["y"]["title"] == "Seconds"
    # No answer times from this source: no ASA line, and the caption says so.
    assert charts["has_asa"] is False

    [service_level, abandon] = charts["service"]["datasets"]
    assert service_level["label"] == "Service level % (answered in target / answered)"
    assert service_level["data"] == [
        one_decimal(100 * b["answered_in_sl"] / b["answered"]) for b in buckets
    ]
    assert abandon["label"] == "Abandon % (abandoned / offered)"
    assert abandon["data"] == [one_decimal(100 * b["abandoned"] / b["offered"]) for b in buckets]
    assert charts["service"]["axes"]["y"] == {
        "title": "%",
        "position": "left",
        "min": 0,
        "max": 100,
    }


def test_it_leaves_out_the_charts_a_source_cannot_fill() -> None:
    charts = kpis.report_charts(report_payload(spec_from_query(DAY_QUERY)))
    assert charts["service"] is None
    assert [d["key"] for d in charts["wait"]["datasets"]] == ["avg_wait"]


def test_it_adds_the_asa_line_where_answer_times_exist() -> None:
    without = {**BUCKET, "start": "2024-11-02T15:00:00-05:00", "end": "2024-11-02T16:00:00-05:00"}
    del without["answer_sum"]
    charts = kpis.report_charts(report_of(BUCKET, without))
    assert charts["has_asa"] is True
    asa = charts["wait"]["datasets"][1]
    assert asa["key"] == "asa" and asa["label"] == "ASA (s)"
    assert asa["data"] == [13.0, None]  # 416 s / 32 answered; a gap where there is no base


def test_it_rounds_chart_points_half_up() -> None:
    # 20.25 s is exact in binary: round() would make it 20.2.
    bucket = {**BUCKET, "wait_sum": 81.0, "wait_count": 4}
    assert kpis.report_charts(report_of(bucket))["wait"]["datasets"][0]["data"] == [20.3]


def test_it_titles_the_two_hours_of_a_dst_change_by_their_offset() -> None:
    titles = kpis.report_charts(report_payload(spec_from_query(DST_DAY_QUERY)))["titles"]
    assert titles[1] == "Sun 3 Nov 01:00–01:00 (UTC-05:00)"
    assert titles[2] == "Sun 3 Nov 01:00–02:00 (UTC-06:00)"
    daily = DAY_QUERY.replace("PT1H", "P1D")
    assert kpis.report_charts(report_payload(spec_from_query(daily)))["titles"] == [
        "Sat 2 Nov (UTC-05:00)"
    ]


def test_it_exports_counts_as_stored_and_averages_to_the_millisecond() -> None:
    bucket = {**BUCKET, "wait_sum": 100.0, "wait_count": 3}
    [row] = kpis.export_rows(report_of(bucket))
    assert tuple(row) == kpis.EXPORT_COLUMNS
    assert row["start"] == BUCKET["start"] and row["end"] == BUCKET["end"]
    assert row["duration_sum"] == 9_000.0 and row["avg_duration"] == 225.0
    assert row["avg_wait"] == 33.333  # 100 s / 3
    assert row["service_level_pct"] == 75.0 and row["answer_sum"] == 416.0
    [graphql] = kpis.export_rows(report_payload(spec_from_query(DAY_QUERY)))[:1]
    assert graphql["offered"] is None and graphql["abandon_pct"] is None


def test_the_page_scripts_hold_no_formula() -> None:
    scripts = [
        path
        for path in STATIC_DIR.rglob("*")
        if path.is_file() and "vendor" not in path.relative_to(STATIC_DIR).parts
    ]
    assert any(path.name == "dashboard.js" for path in scripts)
    for path in scripts:
        found = FORMULA_INPUTS.findall(path.read_text())
        assert found == [], f"{path.name} computes KPIs from {sorted(set(found))}"
