"""The three views of the simulated org agree where Genesys's do: the details and the GraphQL
contract count conversations by their start, the aggregates add up every metric where it is
emitted, and over a day that no conversation crosses, the aggregates are the details' sums."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta

from genesys_sim import org, rest_api
from tests.genesys_sim.helpers import conversations_variables
from tests.genesys_sim.rest_helpers import (
    MAY,
    day_text,
    detail_records,
    first_day_nothing_crosses,
    iso,
    metric_totals,
    records_as_aggregates,
    stats_by,
    totals,
)


def test_over_a_day_nothing_crosses_the_aggregates_are_the_details_sums(
    quiet_org, aggregates, details_all
):
    day = first_day_nothing_crosses()
    records = detail_records(details_all(interval=day_text(day)))
    assert {r.name for r in records} >= {"nOffered", "tHeld", "tFlowOut", "nOutbound"}
    found = totals(aggregates(interval=day_text(day), metrics=list(rest_api.METRICS)))
    assert found == records_as_aggregates(records)
    assert set(found) == set(rest_api.METRICS)


def test_over_a_day_nothing_crosses_each_group_and_hour_adds_up_too(
    quiet_org, aggregates, details_all
):
    day = first_day_nothing_crosses()
    records = detail_records(details_all(interval=day_text(day)))
    results = aggregates(
        interval=day_text(day),
        granularity="PT1H",
        groupBy=["queueId", "userId"],
        metrics=list(rest_api.METRICS),
    )
    expected = defaultdict(list)
    for r in records:
        group = {"mediaType": r.media_type, "queueId": r.queue_id, "userId": r.user_id}
        hour = r.emit_ms // 3_600_000 * 3_600_000
        key = (
            tuple(sorted((k, v) for k, v in group.items() if v is not None)),
            f"{iso(hour)}/{iso(hour + 3_600_000)}",
        )
        expected[key].append(r)
    found = stats_by(results, by_interval=True)
    assert set(found) == set(expected)
    for key, stats in found.items():
        assert metric_totals(stats) == records_as_aggregates(expected[key]), key


def test_aggregates_count_what_is_emitted_in_the_interval_even_from_earlier_conversations(
    settings, aggregates, details_all
):
    # A day at the usual volume: conversations of the evening before (long emails, transfers)
    # still emit during it, and some of the day's emit after it.
    settings.GENESYS_SIM_CONVERSATIONS_PER_DAY = 1000
    day = MAY + timedelta(days=2)
    start, end = org.to_ms(day), org.to_ms(day + timedelta(days=1))
    before = details_all(interval=f"{iso(start - 86_400_000)}/{iso(start)}")
    during = details_all(interval=day_text(day))
    emitted = [r for r in detail_records(before + during) if start <= r.emit_ms < end]
    found = totals(aggregates(interval=day_text(day), metrics=list(rest_api.METRICS)))
    assert found == records_as_aggregates(emitted)
    # ... which is not what the day's conversations alone hold: some of theirs come after it,
    # and some of the evening before's come in it.
    assert found != records_as_aggregates(detail_records(during))
    assert any(r.emit_ms >= end for r in detail_records(during))
    assert any(r.emit_ms >= start for r in detail_records(before))


def quarter(moment_ms: int) -> str:
    edge = moment_ms // 900_000 * 900_000
    return f"{iso(edge)}/{iso(edge + 900_000)}"


def test_buckets_follow_emission_so_they_differ_from_buckets_by_start(
    settings, aggregates, details_all
):
    settings.GENESYS_SIM_CONVERSATIONS_PER_DAY = 1000
    day = MAY + timedelta(days=2)
    start, end = org.to_ms(day), org.to_ms(day + timedelta(days=1))
    results = aggregates(interval=day_text(day), granularity="PT15M", metrics=["tHandle"])
    by_aggregates: Counter = Counter()
    for (_, interval), stats in stats_by(results, by_interval=True).items():
        by_aggregates[interval] += stats["tHandle"]["count"]

    before = details_all(interval=f"{iso(start - 86_400_000)}/{iso(start)}")
    during = details_all(interval=day_text(day))
    by_emission, by_start = Counter(), Counter()
    long_calls = 0
    for c in before + during:
        started = org.to_ms(datetime.fromisoformat(c["conversationStart"]))
        for r in detail_records([c]):
            if r.name != "tHandle":
                continue
            if start <= r.emit_ms < end:
                by_emission[quarter(r.emit_ms)] += 1
            if start <= started:
                by_start[quarter(started)] += 1
                long_calls += quarter(r.emit_ms) != quarter(started)
    assert by_aggregates == by_emission
    assert by_aggregates != by_start
    # Long calls: offered in one bucket, their handle emitted in a later one.
    assert long_calls > 10


def test_details_and_graphql_count_the_same_conversations_by_start(graphql, details_all):
    # Billing meets conversations transferred in from other queues too.
    interval = "2024-05-01T09:00:00.000Z/2024-05-01T12:00:00.000Z"
    in_billing = details_all(
        interval=interval,
        segmentFilters=[
            {"type": "or", "predicates": [{"dimension": "queueId", "value": org.BILLING_ID}]}
        ],
    )
    variables = conversations_variables(
        "2024-05-01T09:00:00Z",
        "2024-05-01T12:00:00Z",
        pageSize=500,
        filter=[{"field": "queueId", "operator": "eq", "value": org.BILLING_ID}],
    )
    page = graphql(variables).json()["data"]["conversations"]
    assert page["pageToken"] is None
    assert [c["conversationId"] for c in in_billing] == [item["id"] for item in page["items"]]
    transferred_in = [
        c
        for c in in_billing
        if [p.get("participantName") for p in c["participants"] if p["purpose"] == "acd"][-1:]
        == ["Billing"]
        and sum(p["purpose"] == "acd" for p in c["participants"]) == 2
    ]
    assert transferred_in
