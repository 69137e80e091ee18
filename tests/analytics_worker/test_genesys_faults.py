"""Every retry path of the client against the simulated org's own fault injection, over HTTP:
the fetch still returns every conversation exactly once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from analytics_worker.genesys import clock
from analytics_worker.genesys.errors import GenesysUnavailable
from analytics_worker.genesys.graphql import graphql_conversation_pages
from analytics_worker.genesys.http import FetchProgress
from analytics_worker.reports import ReportSpec
from genesys_sim import org
from genesys_sim.faults import parse_faults
from tests.analytics_worker.helpers import query_args

HOUR = ReportSpec(
    start=datetime(2024, 5, 1, 12, tzinfo=UTC), end=datetime(2024, 5, 1, 14, tzinfo=UTC)
)


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the client's waits instead of sleeping through them."""
    slept: list[float] = []
    monkeypatch.setattr(clock, "sleep", slept.append)
    return slept


def fetch_ids(progress: FetchProgress) -> list[str]:
    pages = graphql_conversation_pages(
        **query_args(HOUR, "view_id"), progress=progress, page_size=40
    )
    return [item["id"] for page in pages for item in page]


def expected_ids() -> list[str]:
    return [c.id for c in org.iter_conversations(start=HOUR.start, end=HOUR.end)]


@pytest.mark.parametrize(
    ("faults", "retries", "rate_limited"),
    [
        ("429:7", 1, 1),  # Retry-After in seconds
        ("429date:7", 1, 1),  # Retry-After as an HTTP date
        ("500,502,503", 3, 0),  # a run of 5xx
        ("504x2", 2, 0),
        ("drop", 1, 0),  # an empty answer, as when the connection dies
        ("malformed", 1, 0),  # a body cut short
        ("expire", 1, 0),  # the token expires mid-pagination: a new one, once
    ],
)
def test_it_recovers_from_each_fault(sim, waits, faults, retries, rate_limited):
    progress = FetchProgress()
    sim.faults_replace(parse_faults(faults))  # the next API requests get these answers
    ids = fetch_ids(progress)
    assert ids == expected_ids()
    assert len(set(ids)) == len(ids) > 40
    assert progress.retries == retries
    assert progress.rate_limited == rate_limited
    if rate_limited:
        assert any(6 <= seconds <= 8 for seconds in waits), waits


def test_it_gives_up_on_a_long_outage_with_a_clear_message(sim, waits):
    sim.faults_replace(parse_faults("503x20"))
    progress = FetchProgress()
    with pytest.raises(GenesysUnavailable, match="HTTP 503"):
        fetch_ids(progress)
    # Capped: a handful of attempts, not a retry storm.
    assert sim.stats_read()["requests"] <= 6
