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
FORMULA_INPUTS = re.compile(
    r"answered_in_sl|sl_numerator|sl_denominator|handle_sum|wait_sum|duration_sum|hold_sum|offered"
)

# One hour of a queue, as the aggregates source stores it (counts and sums of Genesys metrics):
# 40 offered = 32 answered + 6 abandoned + 2 flowed out.
BUCKET = {
    "start": "2024-11-02T14:00:00-05:00",
    "end": "2024-11-02T15:00:00-05:00",
    "conversations": 40,
    "duration_sum": 0.0,
    "duration_count": 0,
    "wait_sum": 1_000.0,  # tWait over all 40 offers
    "wait_count": 40,
    "hold_sum": 140.0,  # 4 holds
    "hold_count": 4,
    "offered": 40,
    "answered": 32,
    "answer_sum": 416.0,
    "abandoned": 6,
    "short_abandoned": 2,
    "flowed_out": 2,
    "transferred": 3,
    "sl_numerator": 24,  # answered within the threshold
    "sl_denominator": 38,  # answered + abandoned
    "sl_target_sum": 30.4,  # 0.8 x 38
    "sl_target_weight": 38,
    "handle_sum": 9_600.0,
    "handle_count": 32,
    "talk_sum": 7_680.0,
    "talk_count": 32,
    "acw_sum": 1_280.0,
    "acw_count": 32,
    "outbound": 5,
    "outbound_handle_sum": 1_500.0,
    "outbound_handle_count": 5,
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


def test_it_derives_every_kpi_as_genesys_defines_it() -> None:
    assert kpis.bucket_derive(BUCKET) == {
        "conversations": 40,
        "offered": 40,
        "answered": 32,
        "abandoned": 6,
        "abandon_pct": 15.0,  # 6 abandoned / 40 offered
        "service_level_pct": 100 * 24 / 38,  # in threshold / (answered + abandoned)
        "asa": 13.0,  # 416 s / 32 answered
        "avg_wait": 25.0,  # 1000 s of tWait / 40 offers (flow-outs included)
        "aht": 300.0,  # 9600 s / 32 handled
        "avg_hold": 35.0,  # 140 s / 4 holds: per hold, not per answered call
        "handled": 32,  # tHandle.count
        "avg_acw": 40.0,  # 1280 s / 32
        "avg_talk": 240.0,  # 7680 s / 32
        "flowed_out": 2,
        "short_abandoned": 2,
        "transferred": 3,
        "outbound": 5,
        "outbound_aht": 300.0,  # 1500 s / 5, never mixed into the queues' AHT
        "avg_duration": None,  # the aggregates source has no duration
        # Agents' time in status: the agent breakdown's users aggregates only.
        "on_queue_time": None,
        "interacting_time": None,
        "idle_time": None,
        "not_responding_time": None,
        "occupancy": None,
    }


def test_an_agents_occupancy_is_interacting_over_on_queue_time() -> None:
    agent = {"on_queue_sum": 28_800.0, "interacting_sum": 21_600.0, "idle_sum": 7_200.0}
    derived = kpis.bucket_derive(agent)
    assert derived["occupancy"] == 75.0
    assert (derived["on_queue_time"], derived["idle_time"]) == (28_800.0, 7_200.0)
    assert kpis.format_kpi("on_queue_time", derived["on_queue_time"]) == "8 h 00 m"


def test_a_kpi_of_columns_is_its_value_of_each_bucket() -> None:
    columns = {"sl_numerator": [8, 0, 3], "sl_denominator": [10, 0, 4]}
    kpi = kpis.KPIS["service_level_pct"]
    buckets = [
        dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)
    ]
    assert kpi.values(columns, 3) == [kpi.value(b) for b in buckets] == [80.0, None, 75.0]
    assert kpis.KPIS["aht"].values(columns, 3) == [None, None, None]


def test_it_leaves_unknown_what_the_source_does_not_give() -> None:
    graphql = {"conversations": 0, "duration_sum": 0.0, "duration_count": 0, "wait_count": 0}
    assert {key for key, value in kpis.bucket_derive(graphql).items() if value is not None} == {
        "conversations"
    }
    # A zero count is no average, not a division by zero.
    assert kpis.bucket_derive({**BUCKET, "sl_denominator": 0})["service_level_pct"] is None
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
    second.update(sl_numerator=36, sl_denominator=42, sl_target_sum=0.9 * 42, sl_target_weight=42)
    tiles = kpis.kpi_tiles(report_of(BUCKET, second))
    # No duration tile: the aggregates source has no duration, and none is invented.
    assert [tile["key"] for tile in tiles] == [
        "conversations",
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
    ]
    by_key = {tile["key"]: tile for tile in tiles}
    assert by_key["offered"]["value"] == "80"
    assert by_key["abandon_pct"]["value"] == "15.0 %"  # 12 / 80
    # (24 + 36) / (38 + 42): rebuilt from the summed counts, not an average of 63.2 % and 85.7 %.
    assert by_key["service_level_pct"]["value"] == "75.0 %"
    # The goal of the two hours, weighted by their denominators: (0.8 x 38 + 0.9 x 42) / 80.
    assert by_key["service_level_pct"]["hint"] == "target 85.2 %"
    assert by_key["service_level_pct"]["status"] == "missed"
    assert by_key["avg_hold"]["hint"] == "per hold"
    assert by_key["avg_hold"]["value"] == "35 s"  # 280 s / 8 holds
    assert "tHeld.sum ÷ tHeld.count" in by_key["avg_hold"]["formula"]
    assert "oServiceLevel" in by_key["service_level_pct"]["formula"]
    assert all(tile["formula"] for tile in tiles)


def test_the_service_level_tile_names_the_queues_goal_and_says_when_it_is_met() -> None:
    report = {**report_of(BUCKET), "service_level_goal": {"percentage": 0.6, "duration_ms": 20000}}
    [tile] = [t for t in kpis.kpi_tiles(report) if t["key"] == "service_level_pct"]
    assert (tile["value"], tile["hint"], tile["status"]) == ("63.2 %", "target 60 % in 20 s", "met")


def test_it_shows_only_what_a_source_without_contact_centre_counts_has() -> None:
    report = report_payload(spec_from_query(DAY_QUERY))
    values = {tile["key"]: tile["value"] for tile in kpis.kpi_tiles(report)}
    assert list(values) == ["conversations", "avg_duration", "avg_wait", "avg_hold"]
    totals = report["totals"]
    assert values["conversations"] == f"{totals['conversations']:,}"
    assert kpis.report_has_contact_centre_metrics(report) is False


def test_it_formats_one_table_row_per_bucket() -> None:
    report = report_of(BUCKET)
    assert [c["key"] for c in kpis.table_columns(report)] == [
        "conversations",
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
    ]
    [row] = kpis.table_rows(report)
    assert row == {
        "label": "14:00",
        "start": "2024-11-02T14:00:00-05:00",
        "complete": True,
        "cells": [
            "40",
            "40",
            "32",
            "15.0 %",
            "63.2 %",
            "13 s",
            "25 s",
            "5 m 00 s",
            "35 s",
            "2",
            "5",
        ],
    }


def test_the_bucket_still_filling_is_marked_and_left_out_of_the_rates() -> None:
    second = {**BUCKET, "start": "2024-11-02T15:00:00-05:00", "end": "2024-11-02T16:00:00-05:00"}
    report = {**report_of(BUCKET, second), "as_of": "2024-11-02T20:10:00+00:00"}  # 15:10 CDT
    first, filling = kpis.table_rows(report)
    assert first["complete"] and not filling["complete"]
    columns = [c["key"] for c in kpis.table_columns(report)]
    cells = dict(zip(columns, filling["cells"], strict=True))
    assert cells["offered"] == "40" and cells["abandon_pct"] == cells["service_level_pct"] == "n/a"
    charts = kpis.report_charts(report)
    assert charts["titles"][1].endswith("(so far)")
    service = {d["key"]: d["data"] for d in charts["service"]["datasets"]}
    assert service["service_level_pct"][1] is None and service["abandon_pct"][1] is None
    assert service["service_level_pct"][0] == 63.2
    assert [row["complete"] for row in kpis.export_rows(report)] == [True, False]


def test_it_labels_buckets_in_the_reports_own_clock() -> None:
    spec = spec_from_query(DST_DAY_QUERY)
    rows = kpis.table_rows(report_payload(spec))
    assert [row["label"] for row in rows[:4]] == [
        "00:00",
        "01:00 (UTC-05:00)",
        "01:00 (UTC-06:00)",
        "02:00",
    ]
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

    # The aggregates source has no duration: the second axis is AHT, labelled as such.
    [offered, aht] = charts["volume"]["datasets"]
    assert charts["volume"]["title"] == "Offered and average handle time"
    assert offered == {
        "key": "offered",
        "style": "volume",
        "label": "Offered",
        "type": "bar",
        "axis": "y",
        "format": "count",
        "data": [b["offered"] for b in buckets],
    }
    # Times are seconds in the data, written m:ss by the page (their format says so).
    assert (aht["label"], aht["axis"], aht["format"]) == ("AHT", "y1", "duration")
    assert aht["data"] == [one_decimal(b["handle_sum"] / b["handle_count"]) for b in buckets]
    assert charts["volume"]["axes"] == {
        "y": {"title": "Offered", "position": "left", "min": None, "max": None, "format": "count"},
        "y1": {"title": "AHT", "position": "right", "min": None, "max": None, "format": "duration"},
    }

    [wait, asa] = charts["wait"]["datasets"]
    assert (wait["label"], wait["format"]) == ("Avg wait", "duration")
    assert wait["data"] == [one_decimal(b["wait_sum"] / b["wait_count"]) for b in buckets]
    assert asa["data"] == [one_decimal(b["answer_sum"] / b["answered"]) for b in buckets]
    assert charts["wait"]["axes"]["y"]["format"] == "duration"
    assert charts["has_asa"] is True

    [service_level, abandon, target] = charts["service"]["datasets"]
    assert service_level["label"] == "Service level % (in threshold ÷ answered + abandoned)"
    assert service_level["data"] == [
        one_decimal(100 * b["sl_numerator"] / b["sl_denominator"]) for b in buckets
    ]
    assert abandon["label"] == "Abandon % (abandoned ÷ offered)"
    assert abandon["data"] == [one_decimal(100 * b["abandoned"] / b["offered"]) for b in buckets]
    # The goal as a line: every bucket's is 0.8, weighted it stays 80 %.
    assert (target["label"], target["data"]) == ("Target 80.0 %", [80.0] * 24)
    assert charts["service"]["axes"]["y"] == {
        "title": "%",
        "position": "left",
        "min": 0,
        "max": 100,
        "format": "percent",
    }
    assert (service_level["format"], target["format"]) == ("percent", "percent")


def test_a_source_with_a_duration_draws_it() -> None:
    charts = kpis.report_charts(report_payload(spec_from_query(DAY_QUERY)))
    [bars, duration] = charts["volume"]["datasets"]
    assert (bars["label"], duration["label"]) == ("Conversations", "Avg duration")
    assert charts["volume"]["title"] == "Conversations and average duration"


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
    assert asa["key"] == "asa" and asa["label"] == "ASA"
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
    # On the axis too, the repeated hour's two labels say their offsets; no other label does.
    labels = kpis.report_charts(report_payload(spec_from_query(DST_DAY_QUERY)))["labels"]
    assert labels[:4] == ["00:00", "01:00 (UTC-05:00)", "01:00 (UTC-06:00)", "02:00"]
    assert sum("UTC" in label for label in labels) == 2


def test_it_exports_counts_as_stored_and_averages_to_the_millisecond() -> None:
    bucket = {**BUCKET, "wait_sum": 100.0, "wait_count": 3}
    [row] = kpis.export_rows(report_of(bucket))
    assert tuple(row) == kpis.EXPORT_COLUMNS
    assert row["start"] == BUCKET["start"] and row["end"] == BUCKET["end"]
    assert row["complete"] is True
    assert row["sl_numerator"] == 24 and row["sl_denominator"] == 38
    assert row["service_level_pct"] == 63.158  # 24 / 38
    assert row["avg_wait"] == 33.333  # 100 s / 3
    assert row["sl_target_pct"] == 80.0
    assert row["avg_duration"] is None and row["answer_sum"] == 416.0
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


def test_each_tile_says_its_change_since_the_previous_period() -> None:
    now = report_of({**BUCKET, "start": "2024-11-02T10:00:00-05:00"})
    before_bucket = {
        **BUCKET,
        "start": "2024-11-01T10:00:00-05:00",
        "offered": 32,  # 40 now: +8, +25 %
        "abandoned": 2,  # 2 / 32 = 6.25 % then, 6 / 40 = 15 % now: +8.75 points
        "answer_sum": 448.0,  # 14 s then, 13 s now: 1 s faster
    }
    tiles = {
        t["key"]: t
        for t in kpis.kpi_tiles(now, previous=report_of(before_bucket), previous_label="yesterday")
    }
    assert tiles["offered"]["delta"] == "+8 (+25 %) vs yesterday"
    assert tiles["abandon_pct"]["delta"] == "+8.8 pts vs yesterday"
    assert (tiles["asa"]["delta"], tiles["asa"]["delta_direction"]) == ("−1 s vs yesterday", "down")
    assert "delta" not in kpis.kpi_tiles(now)[0]


def test_the_charts_draw_the_previous_period_dashed_bucket_for_bucket() -> None:
    spec = spec_from_query(DAY_QUERY)
    report = report_payload(spec, contact_centre=True)
    before = report_payload(spec, contact_centre=True)
    for bucket in before["buckets"]:
        bucket["offered"] = bucket["offered"] + 1
    charts = kpis.report_charts(report, previous=before, previous_label="the day before")
    earlier = charts["volume"]["datasets"][-1]
    assert earlier["label"] == "Offered (the day before)" and earlier["style"] == "previous"
    assert earlier["data"] == [float(b["offered"]) for b in before["buckets"]]
    assert charts["service"]["datasets"][-1]["label"] == "Service level % (the day before)"
    # A period with another number of buckets (a DST day) is not drawn against this one.
    before["buckets"] = before["buckets"][:-1]
    charts = kpis.report_charts(report, previous=before, previous_label="the day before")
    assert all(d["style"] != "previous" for d in charts["volume"]["datasets"])


def test_axis_labels_go_on_whole_hours_or_on_days_of_the_reports_clock() -> None:
    half_hours = kpis.report_charts(
        report_payload(spec_from_query(DAY_QUERY.replace("PT1H", "PT30M")))
    )
    assert half_hours["major"][:4] == [True, False, True, False]
    two_days = DAY_QUERY.replace("end=2024-11-02", "end=2024-11-03")
    charts = kpis.report_charts(report_payload(spec_from_query(two_days)))
    majors = [
        label for label, major in zip(charts["labels"], charts["major"], strict=True) if major
    ]
    assert majors == ["Sat 2 Nov 00:00", "Sun 3 Nov 00:00"]
