"""report_fetch: all three sources against the simulated org over HTTP give the same buckets."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from analytics_worker import fetch
from analytics_worker.normalize import CORE_FIELDS, OPTIONAL_FIELDS
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
def test_the_three_sources_give_the_same_buckets(sim, fields):
    graphql = fetched("graphql", **fields)
    details = fetched("details", **fields)
    aggregates = fetched("aggregates", **fields)
    assert graphql["totals"]["conversations"] > 100
    assert core(details) == core(graphql)
    assert core(aggregates) == core(graphql)
    for name in OPTIONAL_FIELDS:
        assert [b[name] for b in details["buckets"]] == [b[name] for b in aggregates["buckets"]]
    # The saving that makes aggregates the default: one request for the day, not one per page.
    assert aggregates["fetch"]["requests"] == 1 < details["fetch"]["requests"]


def test_the_graphql_source_has_no_kpis(sim):
    report = fetched("graphql")
    assert "offered" not in report["totals"]
    assert "offered" in fetched("aggregates")["totals"]
