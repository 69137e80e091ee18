"""Golden tests: published Genesys answers through the whole KPI path (the client's parsing,
the mapping to bucket fields, the KPI formulas), against the values Genesys's own formulas give
on the same numbers, worked out here by hand.

Sources:
- tests/fixtures/quick_hits_aggregate_results.json: the answer Genesys publishes with its
  official sample, MyPureCloud/quick-hits-python,
  analytics/analytics-conversation-aggregate-query/results.json (commit 2c3ba133), as it is.
- The oServiceLevel stats shape: the SDK model StatisticalSummary
  (MyPureCloud/platform-client-sdk-python, build/docs/StatisticalSummary.md: numerator,
  denominator, ratio, target). No published answer with oServiceLevel values was found, so the
  service-level case below uses numbers of our own in that shape; its expected value follows
  Genesys's definition (Resource Center, "Configure the service level calculation": answered in
  threshold over answered + abandoned, as the org counts them), not this code.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import responses

from analytics_worker.genesys.aggregates import AGGREGATES_PATH, aggregates_query
from analytics_worker.genesys.query import ConversationFilters
from analytics_worker.normalize import aggregate_bucket_values
from analytics_worker.reports import ReportSpec
from dashboard import kpis
from tests.helpers import FAKE_GENESYS_API

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "quick_hits_aggregate_results.json"


@pytest.fixture
def published(api: responses.RequestsMock) -> list:
    api.post(FAKE_GENESYS_API + AGGREGATES_PATH, json=orjson.loads(FIXTURE.read_bytes()))
    spec = ReportSpec.from_dict(
        {
            "start": "2016-03-28T15:07:00Z",
            "end": "2016-04-04T15:07:00Z",
            "granularity": "P1D",
            "time_zone": "UTC",
            "media_types": [],
            "directions": [],
            "queue_ids": [],
            "view_id": "all",
            "source": "aggregates",
        }
    )
    return aggregates_query(
        start=spec.start,
        end=spec.end,
        granularity=spec.granularity,
        time_zone=spec.time_zone,
        filters=ConversationFilters(),
    )


def test_the_quick_hits_answer_gives_genesys_asa_and_talk(published: list) -> None:
    [row] = published
    assert row.group == {"mediaType": "chat", "queueId": "c6fc6f57-4c1e-4812-980a-5154f500b5c6"}
    derived = kpis.bucket_derive(aggregate_bucket_values(row.stats))
    # Genesys: ASA = tAnswered.sum / tAnswered.count = 32,296 ms / 5 = 6.4592 s.
    assert derived["asa"] == pytest.approx(6.4592)
    # Talk per talk = tTalk.sum / tTalk.count = 3,125,952 ms / 5 = 625.1904 s.
    assert derived["avg_talk"] == pytest.approx(625.1904)
    assert (derived["offered"], derived["answered"]) == (5, 5)
    # Nothing Genesys did not answer is made up: no abandons, no handle, no hold, no duration.
    assert derived["abandon_pct"] == 0.0  # 0 of 5 offered (tAbandon absent: none emitted)
    assert derived["aht"] is None and derived["avg_hold"] is None
    assert derived["avg_duration"] is None


def test_service_level_comes_from_oservicelevel_as_the_org_counts_it() -> None:
    # 30 offered: 22 answered (4 of them past the threshold), 5 abandoned, 3 flowed out; the org
    # counts flow-outs out of the denominator, as Genesys's default does.
    stats = {
        "nOffered": {"count": 30},
        "tAnswered": {"count": 22, "sum": 330_000},
        "tAbandon": {"count": 5, "sum": 150_000},
        "tFlowOut": {"count": 3, "sum": 360_000},
        "tWait": {"count": 30, "sum": 840_000},
        "nOverSla": {"count": 4},
        "oServiceLevel": {"numerator": 18, "denominator": 27, "ratio": 0.6667, "target": 0.8},
        "tHeld": {"count": 6, "sum": 240_000},
        "tHandle": {"count": 22, "sum": 6_600_000},
    }
    derived = kpis.bucket_derive(aggregate_bucket_values(stats))
    assert derived["service_level_pct"] == pytest.approx(100 * 18 / 27)  # 66.67 %, not 18/22
    assert derived["avg_wait"] == pytest.approx(28.0)  # 840 s over 30 offers, flow-outs included
    assert derived["avg_hold"] == pytest.approx(40.0)  # 240 s over 6 holds
    assert derived["aht"] == pytest.approx(300.0)
    assert derived["abandon_pct"] == pytest.approx(100 * 5 / 30)
    assert derived["flowed_out"] == 3
    report = {"totals": aggregate_bucket_values(stats), "buckets": []}
    assert kpis.service_level_target(report) == (pytest.approx(80.0), "target 80.0 %")
