"""Drill-down: the conversations behind one bucket and/or one group of a report, from the
details query, capped, checked against the simulated org's raw details answers read by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from analytics_worker.fetch import report_fetch
from analytics_worker.reports import ReportSpecError, drill_spec_build
from analytics_worker.sources import LISTING_CAP, fetch_cost_estimate
from tests.analytics_worker.helpers import is_queue_work, raw_conversations

NOW = datetime(2024, 5, 2, 12, 0, tzinfo=UTC)
AT = "2024-05-01T10:00:00+00:00"


def drill(**params: str):
    base = {"range": "custom", "start": "2024-05-01", "end": "2024-05-01", "tz": "UTC"}
    return drill_spec_build(params={**base, **params}, now=NOW)


def test_a_bucket_is_its_own_interval_of_the_reports_filters_from_the_details():
    spec = drill(at=AT, type="voice", group="queue", member="q-1")
    assert (spec.start, spec.end) == (
        datetime(2024, 5, 1, 10, tzinfo=UTC),
        datetime(2024, 5, 1, 10, 30, tzinfo=UTC),
    )
    assert (spec.source, spec.listing, spec.group) == ("details", True, "")
    assert (spec.media_types, spec.queue_ids) == (("voice",), ("q-1",))
    assert drill(group="agent", member="u-7").user_ids == ("u-7",)
    # A group row without `at` is the group over the report's whole range.
    assert drill(group="media", member="email").start == datetime(2024, 5, 1, tzinfo=UTC)
    # One listing never scans more than the cap and a page.
    assert fetch_cost_estimate(spec=spec) == LISTING_CAP // 100 + 1


@pytest.mark.parametrize(
    "params, field",
    [
        ({"at": "2024-05-01T10:10:00+00:00"}, "at"),  # not a bucket edge
        ({"at": "2024-05-03T10:00:00+00:00"}, "at"),  # outside the range
        ({"at": "2024-05-01T10:00:00"}, "at"),  # no offset
        ({"at": "yesterday"}, "at"),
        ({"member": "q-1"}, "member"),  # not a breakdown
        ({"group": "media", "member": "fax"}, "member"),
        ({"group": "queue", "queue": "q-2", "member": "q-1"}, "member"),
    ],
)
def test_it_refuses_what_is_not_one_bucket_or_group_of_the_report(params, field):
    with pytest.raises(ReportSpecError) as caught:
        drill(**params)
    assert caught.value.field == field


def test_the_listing_is_every_queue_conversation_started_in_the_bucket(sim, settings):
    settings.GENESYS_RATE_LIMIT_PER_MINUTE = 60_000
    spec = drill(at=AT)
    report = report_fetch(spec=spec)

    raw = [
        c
        for c in raw_conversations(spec.start, spec.end)
        if spec.start <= datetime.fromisoformat(c["conversationStart"]) < spec.end
        and is_queue_work(c)
    ]
    assert 0 < len(raw) < LISTING_CAP
    assert [row["id"] for row in report["conversations"]] == [c["conversationId"] for c in raw]
    assert report["more"] is False
    by_id = {c["conversationId"]: c for c in raw}
    for row in report["conversations"]:
        conversation = by_id[row["id"]]
        metrics = {
            m["name"]: m["value"]
            for p in conversation["participants"]
            for s in p.get("sessions", [])
            for m in s.get("metrics", [])
        }
        names = set(metrics)
        assert ("answered" in row["outcomes"]) == ("tAnswered" in names)
        assert ("abandoned" in row["outcomes"]) == ("tAbandon" in names)
        agents = [p["userId"] for p in conversation["participants"] if p["purpose"] == "agent"]
        assert row["user_ids"] == agents
        if "tAcw" in names and len(agents) == 1:
            assert row["acw"] == pytest.approx(metrics["tAcw"] / 1000)
    assert any(row["outcomes"] == ["abandoned"] for row in report["conversations"])


def test_a_listing_stops_at_the_cap_and_says_there_are_more(sim, settings, monkeypatch):
    settings.GENESYS_RATE_LIMIT_PER_MINUTE = 60_000
    monkeypatch.setattr("analytics_worker.fetch.LISTING_CAP", 30)
    report = report_fetch(spec=drill(at=AT))
    assert len(report["conversations"]) == 30
    assert report["more"] is True
    assert report["fetch"]["requests"] <= 3  # the token and a page or two, not the whole day
