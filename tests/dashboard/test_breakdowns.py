"""Breakdowns as the page shows them: one row and one chart line per group, by name, the total
row from the summed counts; per-media figures where media types mix; exports of the table."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.test import Client

from analytics_worker import services
from analytics_worker.normalize import GROUP_SERIES_FIELDS
from dashboard import breakdowns, kpis
from tests.dashboard.helpers import DAY_QUERY, put_report, spec_from_query
from tests.helpers import enqueued_jobs

QUEUES = [("q-1", "Sales"), ("q-2", "Support")]


def group(group_id: str, series: dict[str, list[float]], **extra: Any) -> dict[str, Any]:
    totals = {name: sum(values) for name, values in series.items()}
    return {"id": group_id, "totals": {**totals, **extra}, "series": series}


def breakdown_report(by: str = "queue", groups: list[dict] | None = None) -> dict[str, Any]:
    groups = groups or [
        # 90 % of 100 and 50 % of 10: the total is 95 / 110 = 86.4 %, not the rows' mean 70 %.
        group("q-2", {"offered": [60, 40], "sl_numerator": [50, 40], "sl_denominator": [60, 40]}),
        group("q-1", {"offered": [4, 6], "sl_numerator": [2, 3], "sl_denominator": [4, 6]}),
        group("q-gone", {"offered": [1, 0], "sl_numerator": [1, 0], "sl_denominator": [1, 0]}),
    ]
    totals: dict[str, float] = {}
    for found in groups:
        for name, value in found["totals"].items():
            totals[name] = totals.get(name, 0) + value
    return {
        "spec": {"granularity": "PT1H", "group": by, "time_zone": "UTC"},
        "source": "aggregates",
        "buckets": [
            {"start": "2024-11-02T00:00:00+00:00", "end": "2024-11-02T01:00:00+00:00"},
            {"start": "2024-11-02T01:00:00+00:00", "end": "2024-11-02T02:00:00+00:00"},
        ],
        "totals": totals,
        "groups": groups,
        "service_level_goal": {"percentage": 0.8, "duration_ms": 20000},
    }


def cells(row: dict[str, Any], table: dict[str, Any]) -> dict[str, str]:
    return {c["key"]: cell["text"] for c, cell in zip(table["columns"], row, strict=True)}


def test_a_row_per_group_by_name_and_a_total_row_from_the_summed_counts():
    report = breakdown_report()
    table = breakdowns.breakdown_table(report, names=dict(QUEUES))
    assert table is not None
    assert [(r["label"], r["note"]) for r in table["rows"]] == [
        ("Support", ""),
        ("Sales", ""),
        ("q-gone", breakdowns.UNKNOWN_QUEUE),
    ]
    rows = [cells(r["cells"], table) for r in table["rows"]]
    assert [r["service_level_pct"] for r in rows] == ["90.0 %", "50.0 %", "100.0 %"]
    total = cells(table["total"], table)
    assert total["service_level_pct"] == "86.5 %"  # 96 / 111, summed counts
    assert total["offered"] == "111"
    # Coloured against the goal (80 %); the colour and swatch follow the rank.
    statuses = [r["cells"][5]["status"] for r in table["rows"]]
    assert statuses == ["met", "missed", "met"]
    assert [r["colour"] for r in table["rows"]] == list(breakdowns.GROUP_COLOURS[:3])


def test_an_agent_breakdown_has_agent_columns_and_leaves_the_queue_only_group_to_the_total():
    report = breakdown_report(
        "agent",
        [
            group("", {"offered": [10, 10]}),  # the queue's own metrics: no agent
            group("u-1", {"handle_count": [3, 2], "handle_sum": [900.0, 600.0]}),
        ],
    )
    table = breakdowns.breakdown_table(report, names={"u-1": "Grace Hopper"})
    assert table is not None
    assert [c["key"] for c in table["columns"]] == list(breakdowns.AGENT_TABLE_KEYS)
    assert [r["label"] for r in table["rows"]] == ["Grace Hopper"]
    assert cells(table["rows"][0]["cells"], table)["aht"] == "5 m 00 s"
    assert table["note"] == breakdowns.NO_AGENT_NOTE
    # Names not loaded yet: the id, saying so.
    assert breakdowns.group_label("agent", "u-1", {}) == ("u-1", "name not loaded yet")


def test_each_charted_kpi_is_kept_per_bucket_for_every_group():
    for key in {*breakdowns.QUEUE_CHART_KEYS, *breakdowns.AGENT_CHART_KEYS}:
        kpi = kpis.KPIS[key]
        assert kpi.numerator in GROUP_SERIES_FIELDS, key
        assert kpi.denominator is None or kpi.denominator in GROUP_SERIES_FIELDS, key


def test_the_chart_draws_the_top_groups_and_sums_the_rest_as_others(monkeypatch):
    monkeypatch.setattr(breakdowns, "TOP_GROUPS", 1)
    charts = breakdowns.breakdown_charts(breakdown_report(), names=dict(QUEUES))
    assert charts is not None
    assert charts["ids"] == ["q-2", None]
    service = next(c for c in charts["kpis"] if c["key"] == "service_level_pct")
    [support, others] = service["datasets"]
    assert support["label"] == "Support" and support["data"] == [83.3, 100.0]
    # Others: (2 + 1) / (4 + 1) and 3 / 6 from the summed counts, not a mean of percentages.
    assert others["label"] == "Others (2)"
    assert others["data"] == [60.0, 50.0]
    assert others["colour"] == breakdowns.GROUP_COLOURS[1]


def test_mixed_media_types_get_their_own_figures_unless_already_broken_down_by_media():
    report = breakdown_report()
    report["spec"]["group"] = ""
    report["media"] = {
        "voice": {"offered": 10, "sl_numerator": 5, "sl_denominator": 10},
        "email": {"offered": 4, "sl_numerator": 4, "sl_denominator": 4},
    }
    rows = breakdowns.media_rows(report)
    assert [(r["label"], r["cells"][1]["text"], r["cells"][1]["status"]) for r in rows] == [
        ("Voice", "50.0 %", "missed"),
        ("Email", "100.0 %", "met"),
    ]
    report["spec"]["group"] = "media"
    assert breakdowns.media_rows(report) == []
    report["spec"]["group"] = ""
    report["media"] = {"voice": report["media"]["voice"]}
    assert breakdowns.media_rows(report) == []


@pytest.fixture
def queues_known(monkeypatch):
    monkeypatch.setattr(services, "queue_choices", lambda: QUEUES)


def test_the_page_shows_the_breakdown_and_its_redraw_sends_it_again(
    client_alice: Client, enqueued, queues_known
):
    query = DAY_QUERY + "&group=queue"
    spec = spec_from_query(query)
    assert spec.group == "queue" and spec.source == "aggregates"
    report = breakdown_report()
    report["spec"] = {**spec.to_dict()}
    put_report(spec, payload=report)
    html = client_alice.get("/?" + query).content.decode()
    assert 'id="groups-table"' in html
    assert '<a class="drill" href="/conversations?' in html and "member=q-2" in html
    assert ">Support</a>" in html and ">Sales</a>" in html
    assert "Per queue ·" in html.split("</title>")[0]
    panel = client_alice.get("/report/panel?" + query).json()
    assert ">Support</a>" in panel["groups_html"]
    assert panel["charts"]["groups"]["title"] == "Per queue"
    assert enqueued_jobs(enqueued) == []


def test_a_breakdown_exports_its_table(client_alice: Client, queues_known):
    query = DAY_QUERY + "&group=queue"
    spec = spec_from_query(query)
    report = breakdown_report()
    report["spec"] = spec.to_dict()
    put_report(spec, payload=report)
    response = client_alice.get("/export.csv?" + query)
    assert response.status_code == 200
    assert "report_by_queue_" in response["Content-Disposition"]
    table = [line for line in response.content.decode().splitlines() if not line.startswith("#")]
    rows = list(csv.DictReader(io.StringIO("\n".join(table))))
    assert [(r["id"], r["name"]) for r in rows] == [
        ("q-2", "Support"),
        ("q-1", "Sales"),
        ("q-gone", "q-gone"),
        ("", "Total"),
    ]
    assert [r["service_level_pct"] for r in rows] == ["90.0", "50.0", "100.0", "86.486"]
    assert rows[-1]["offered"] == "111"
