"""POST /sim/api/v2/analytics/conversations/aggregates/query: buckets, groups, filters, stats."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
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


def legs_of_the_day(**filters: Any) -> list[org.Leg]:
    """Every leg of the conversations that can emit a metric on the day (the day before's too)."""
    before = START - timedelta(days=1)
    return [leg for c in org.iter_conversations(start=before, end=END, **filters) for leg in c.legs]


def test_it_counts_each_offer_in_the_bucket_in_which_it_is_offered(aggregates):
    found = results(aggregates(interval=DAY, granularity="PT30M", metrics=["nOffered"]))
    expected: Counter = Counter()
    for leg in legs_of_the_day():
        # A transferred conversation is offered again, to its second queue, when transferred.
        if not leg.offered or not org.to_ms(START) <= leg.enter_ms < org.to_ms(END):
            continue
        edge = leg.enter_ms // 1_800_000 * 1_800_000
        start = datetime.fromtimestamp(edge / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        end = datetime.fromtimestamp(edge / 1000 + 1800, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        expected[f"{start}/{end}"] += 1
    assert offered_by_interval(found) == expected
    assert len(expected) == 48
    # Genesys puts mediaType in the group even when nobody asked; video is never offered.
    assert sorted(r["group"]["mediaType"] for r in found) == sorted(org.QUEUE_MEDIA_TYPES)


def test_t_metrics_carry_max_min_count_sum_and_n_metrics_a_count(aggregates):
    found = results(
        aggregates(
            interval=DAY,
            metrics=["nOffered", "tAnswered", "tAbandon", "tHeld", "oServiceLevel"],
            filter={"type": "and", "predicates": [{"dimension": "mediaType", "value": "voice"}]},
        )
    )
    day = range(org.to_ms(START), org.to_ms(END))
    voice = legs_of_the_day(media_types=["voice"])
    offered = [leg for leg in voice if leg.offered and leg.enter_ms in day]
    left = [leg for leg in voice if leg.offered and leg.leave_ms in day]
    answered = [leg.wait_ms for leg in left if leg.outcome == "answered"]
    abandoned = [leg.wait_ms for leg in left if leg.outcome == "abandoned"]
    [result] = found
    [item] = result["data"]
    assert item["interval"] == DAY  # no granularity: one bucket, the whole interval
    stats = {m["metric"]: m["stats"] for m in item["metrics"]}
    assert stats["nOffered"] == {"count": len(offered)}
    assert stats["tAnswered"] == {
        "max": max(answered),
        "min": min(answered),
        "count": len(answered),
        "sum": sum(answered),
    }
    assert stats["tAbandon"]["count"] == len(abandoned)
    # One entry per hold, emitted when it ends.
    held = [
        end - start
        for leg in voice
        if leg.user_id
        for kind, start, end in leg.agent_segments()
        if kind == "hold" and end in day
    ]
    assert (stats["tHeld"]["count"], stats["tHeld"]["sum"]) == (len(held), sum(held))
    level = stats["oServiceLevel"]
    short = [wait for wait in abandoned if wait < org.SHORT_ABANDON_MS]
    assert level["denominator"] == len(answered) + len(abandoned) - len(short)
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
    # Offers to those queues (a transfer is offered to its second queue too).
    expected = Counter(
        (leg.queue_id, leg.media_type)
        for leg in legs_of_the_day(queue_ids=queues, directions=["inbound"])
        if leg.offered
        and leg.queue_id in queues
        and org.to_ms(START) <= leg.enter_ms < org.to_ms(END)
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
