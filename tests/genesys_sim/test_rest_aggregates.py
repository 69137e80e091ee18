"""POST /sim/api/v2/analytics/conversations/aggregates/query: buckets, groups, filters, stats."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from genesys_sim import org

URL = "/sim/api/v2/analytics/conversations/aggregates/query"
DAY = "2024-05-01T00:00:00.000Z/2024-05-02T00:00:00.000Z"
START, END = datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 5, 2, tzinfo=UTC)


@pytest.fixture
def aggregates(client, token):
    def post(**body: Any):
        return client.post(
            URL, body, content_type="application/json", headers={"Authorization": f"Bearer {token}"}
        )

    return post


def results(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


def offered_by_interval(found: list[dict]) -> Counter:
    offered: Counter = Counter()
    for result in found:
        for item in result["data"]:
            for metric in item["metrics"]:
                if metric["metric"] == "nOffered":
                    offered[item["interval"]] += metric["stats"]["count"]
    return offered


def bad_request(response) -> str:
    assert response.status_code == 400, response.content
    return response.json()["message"]


def test_it_counts_each_conversation_in_the_bucket_of_its_start(aggregates):
    found = results(aggregates(interval=DAY, granularity="PT30M", metrics=["nOffered"]))
    expected: Counter = Counter()
    for c in org.iter_conversations(start=START, end=END):
        edge = c.start_ms // 1_800_000 * 1_800_000
        start = datetime.fromtimestamp(edge / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        end = datetime.fromtimestamp(edge / 1000 + 1800, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        expected[f"{start}/{end}"] += 1
    assert offered_by_interval(found) == expected
    assert len(expected) == 48
    # Genesys puts mediaType in the group even when nobody asked.
    assert sorted(r["group"]["mediaType"] for r in found) == sorted(org.MEDIA_TYPES)


def test_t_metrics_carry_max_min_count_sum_and_n_metrics_a_count(aggregates):
    found = results(
        aggregates(
            interval=DAY,
            metrics=["nOffered", "tAnswered", "tAbandon", "tHeld", "oServiceLevel"],
            filter={"type": "and", "predicates": [{"dimension": "mediaType", "value": "voice"}]},
        )
    )
    voice = list(org.iter_conversations(start=START, end=END, media_types=["voice"]))
    answered = [c for c in voice if c.answered]
    [result] = found
    [item] = result["data"]
    assert item["interval"] == DAY  # no granularity: one bucket, the whole interval
    stats = {m["metric"]: m["stats"] for m in item["metrics"]}
    assert stats["nOffered"] == {"count": len(voice)}
    assert stats["tAnswered"] == {
        "max": max(c.wait_ms for c in answered),
        "min": min(c.wait_ms for c in answered),
        "count": len(answered),
        "sum": sum(c.wait_ms for c in answered),
    }
    assert stats["tAbandon"]["count"] == len(voice) - len(answered)
    held = [c.hold_ms for c in voice if c.hold_ms]
    assert (stats["tHeld"]["count"], stats["tHeld"]["sum"]) == (len(held), sum(held))
    level = stats["oServiceLevel"]
    assert level["denominator"] == len(voice)
    assert level["ratio"] == pytest.approx(level["numerator"] / level["denominator"])
    assert [m["metric"] for m in item["metrics"]] == [
        "nOffered",
        "tAnswered",
        "tAbandon",
        "tHeld",
        "oServiceLevel",
    ]


def test_day_buckets_follow_the_local_day_across_dst(aggregates):
    found = results(
        aggregates(
            interval="2024-03-30T00:00:00Z/2024-04-01T23:00:00Z",
            granularity="P1D",
            timeZone="Europe/London",
            metrics=["nOffered"],
        )
    )
    # 31 March 2024 in London is 23 hours long.
    assert sorted(offered_by_interval(found)) == [
        "2024-03-30T00:00:00.000Z/2024-03-31T00:00:00.000Z",
        "2024-03-31T00:00:00.000Z/2024-03-31T23:00:00.000Z",
        "2024-03-31T23:00:00.000Z/2024-04-01T23:00:00.000Z",
    ]


def test_hour_buckets_in_a_half_hour_zone_start_at_half_past(aggregates):
    found = results(
        aggregates(
            interval="2024-05-01T00:30:00Z/2024-05-01T03:30:00Z",
            granularity="PT1H",
            timeZone="Asia/Kolkata",
            metrics=["nOffered"],
        )
    )
    assert sorted(offered_by_interval(found))[0].startswith("2024-05-01T00:30:00.000Z/")


def test_it_groups_by_queue_and_filters_with_clauses(aggregates):
    queues = [org.SALES_ID, org.BILLING_ID]
    found = results(
        aggregates(
            interval=DAY,
            metrics=["nOffered"],
            groupBy=["queueId"],
            filter={
                "type": "and",
                "predicates": [{"dimension": "originatingDirection", "value": "inbound"}],
                "clauses": [
                    {
                        "type": "or",
                        "predicates": [{"dimension": "queueId", "value": q} for q in queues],
                    }
                ],
            },
        )
    )
    counted: Counter = Counter()
    for result in found:
        assert set(result["group"]) == {"mediaType", "queueId"}
        counted[(result["group"]["queueId"], result["group"]["mediaType"])] += result["data"][0][
            "metrics"
        ][0]["stats"]["count"]
    expected = Counter(
        (c.queue_id, c.media_type)
        for c in org.iter_conversations(
            start=START, end=END, queue_ids=queues, directions=["inbound"]
        )
    )
    assert counted == expected


def test_buckets_without_data_are_left_out(aggregates):
    found = results(
        aggregates(interval="2030-01-01T00:00:00Z/2030-01-02T00:00:00Z", metrics=["nOffered"])
    )
    assert found == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"interval": DAY}, "metrics"),
        ({"interval": DAY, "metrics": ["nTeleported"]}, "nTeleported"),
        ({"metrics": ["nOffered"]}, "interval"),
        ({"interval": DAY, "metrics": ["nOffered"], "granularity": "fortnightly"}, "granularity"),
        ({"interval": DAY, "metrics": ["nOffered"], "granularity": "PT0M"}, "granularity"),
        ({"interval": DAY, "metrics": ["nOffered"], "timeZone": "Mars/Olympus"}, "timeZone"),
        ({"interval": DAY, "metrics": ["nOffered"], "groupBy": ["wrapUpCode"]}, "groupBy"),
        (
            {"interval": DAY, "metrics": ["nOffered"], "filter": {"type": "xor", "predicates": []}},
            "filter.type",
        ),
    ],
)
def test_it_refuses_a_bad_query_naming_the_field(aggregates, body, field):
    assert field in bad_request(aggregates(**body))
