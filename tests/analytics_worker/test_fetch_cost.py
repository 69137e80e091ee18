"""sources.fetch_cost_estimate: a fetch's requests to Genesys, known before it is queued."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analytics_worker.reports import ReportSpec
from analytics_worker.sources import fetch_cost_estimate

START = datetime(2024, 5, 1, tzinfo=UTC)


def spec(source: str, days: float) -> ReportSpec:
    return ReportSpec(start=START, end=START + timedelta(days=days), source=source)


@pytest.fixture(autouse=True)
def per_day(settings) -> None:
    settings.REPORT_CONVERSATIONS_PER_DAY = 2000
    settings.GENESYS_PAGE_SIZE = 500


@pytest.mark.parametrize("days,requests", [(1, 1), (7, 1), (8, 2), (31, 5)])
def test_aggregates_cost_one_request_per_seven_days(days, requests):
    assert fetch_cost_estimate(spec=spec("aggregates", days)) == requests


@pytest.mark.parametrize(
    "days,requests",
    [
        (1, 20 + 1),  # 2,000 conversations in pages of 100, and the empty page that ends a scan
        (7, 140 + 1),
        (31, 620 + 5),  # five scans of at most 7 days
        (1 / 48, 20 + 1),  # half an hour: Genesys still searches (and pages) its whole day
    ],
)
def test_details_cost_a_page_per_hundred_conversations(days, requests):
    assert fetch_cost_estimate(spec=spec("details", days)) == requests


@pytest.mark.parametrize("days,requests", [(1, 4), (31, 124), (1 / 48, 1)])
def test_graphql_costs_a_page_per_page_size(days, requests):
    assert fetch_cost_estimate(spec=spec("graphql", days)) == requests


def test_it_counts_the_configured_conversations_per_day(settings):
    settings.REPORT_CONVERSATIONS_PER_DAY = 50_000
    assert fetch_cost_estimate(spec=spec("details", 1)) == 500 + 1
    assert fetch_cost_estimate(spec=spec("graphql", 1)) == 100
    assert fetch_cost_estimate(spec=spec("aggregates", 1)) == 1
