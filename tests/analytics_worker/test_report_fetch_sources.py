"""report_fetch: all three sources against the simulated org over HTTP give the same buckets."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from analytics_worker import fetch
from analytics_worker.normalize import CORE_FIELDS
from analytics_worker.reports import ReportSpec


@pytest.fixture
def sim(sim, settings):
    # The product's budget for this test: three sources in a row need not pace at 300/minute.
    settings.GENESYS_RATE_LIMIT_PER_MINUTE = 60_000
    return sim


def fetched(source: str, **fields: object) -> dict:
    fields = {
        "start": datetime(2024, 5, 1, tzinfo=UTC),
        "end": datetime(2024, 5, 2, tzinfo=UTC),
        **fields,
    }
    spec = ReportSpec(source=source, **fields)  # type: ignore[arg-type]
    return fetch.report_fetch(spec=spec)


def core(report: dict) -> list[dict]:
    return [
        {name: bucket[name] for name in ("start", *CORE_FIELDS)} for bucket in report["buckets"]
    ]


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {
            # A local day in India: 18:30 to 18:30 UTC, hours starting at :30 UTC.
            "time_zone": "Asia/Kolkata",
            "granularity": "PT1H",
            "start": datetime(2024, 4, 30, 18, 30, tzinfo=UTC),
            "end": datetime(2024, 5, 1, 18, 30, tzinfo=UTC),
        },
        {"media_types": ("voice",), "directions": ("inbound",)},
    ],
)
def test_the_three_sources_fill_the_same_buckets_each_by_its_own_rule(sim, fields):
    """Each KPI against Genesys's definition is test_kpis_on_the_sim.py; here, what the three
    have in common on any range, zone and filter: the same buckets, the REST sources' queue
    work within everything GraphQL lists, and the aggregates' saving in requests."""
    graphql = fetched("graphql", **fields)
    details = fetched("details", **fields)
    aggregates = fetched("aggregates", **fields)
    edges = [(b["start"], b["end"]) for b in graphql["buckets"]]
    assert [(b["start"], b["end"]) for b in details["buckets"]] == edges
    assert [(b["start"], b["end"]) for b in aggregates["buckets"]] == edges
    assert graphql["totals"]["conversations"] > 100
    # Details count queue work (conversations through a queue) by start; GraphQL all of them.
    assert 0 < details["totals"]["conversations"] < graphql["totals"]["conversations"]
    # A transfer is offered in each queue it passes through.
    assert details["totals"]["offered"] >= details["totals"]["conversations"] * 0.9
    assert aggregates["totals"]["offered"] > 0 and aggregates["totals"]["sl_denominator"] > 0
    # The saving that makes aggregates the default: one request for the day, not one per page.
    assert aggregates["fetch"]["requests"] == 1 < details["fetch"]["requests"]


def test_the_graphql_source_has_no_kpis(sim):
    report = fetched("graphql")
    assert "offered" not in report["totals"]
    assert "offered" in fetched("aggregates")["totals"]


@pytest.mark.parametrize("source", ["aggregates", "details", "graphql"])
def test_each_source_counts_its_conversations_as_items(sim, source):
    # The job's "Done: 1 pages, N conversations" reads these: an aggregates report of 2,044
    # conversations once said 0.
    report = fetched(source)
    assert report["fetch"]["items"] == report["totals"]["conversations"] > 100
