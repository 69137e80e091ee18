"""The aggregates of a simulated org that behaves like a real one: work without a queue,
transfers, flow-outs, short abandons, service levels per queue, holds, groups and filters,
metrics not emitted yet."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from genesys_sim import org, rest_api
from tests.genesys_sim.rest_helpers import (
    QUEUES_URL,
    USERS_URL,
    day_text,
    detail_records,
    first_day_nothing_crosses,
    iso,
    stats_by,
    totals,
)

ALL = list(rest_api.METRICS)
QUEUE_METRICS = {"nOffered", "tAnswered", "tWait", "oServiceLevel", "tAbandon", "tAcd"}


def dimension(name: str, value: str | None = None, operator: str = "matches") -> dict:
    predicate = {"type": "dimension", "dimension": name, "operator": operator}
    return predicate | ({"value": value} if value is not None else {})


def where(*predicates: dict, kind: str = "and") -> dict:
    return {"type": kind, "predicates": list(predicates)}


def by_group(results: list[dict]) -> dict[tuple, dict[str, dict]]:
    return {key[0]: stats for key, stats in stats_by(results).items()}


@pytest.fixture
def quiet_day(quiet_org) -> str:
    return day_text(first_day_nothing_crosses())


def test_agent_outbound_has_its_own_metrics_and_none_of_a_queue(quiet_day, aggregates):
    results = aggregates(
        interval=quiet_day,
        groupBy=["queueId"],
        metrics=ALL,
        filter=where(dimension("originatingDirection", "outbound")),
    )
    groups = by_group(results)
    # Some outbound is made for a queue (its group has the queueId), some for none.
    assert {dict(g).get("queueId") for g in groups} == {None, *(q.id for q in org.QUEUES)}
    for group, stats in groups.items():
        assert not QUEUE_METRICS & set(stats), group
        assert stats["nOutbound"]["count"] == stats["tHandle"]["count"] > 0
        assert "tTalk" in stats and "tAcw" in stats
        if dict(group)["mediaType"] == "voice":
            assert stats["tDialing"]["count"] == stats["tContacting"]["count"] > 0
        else:
            assert "tDialing" not in stats and "tContacting" not in stats
        # Handle is dialing + contacting + talk + hold + after-call work.
        parts = ("tDialing", "tContacting", "tTalk", "tHeld", "tAcw")
        assert stats["tHandle"]["sum"] == sum(stats[m]["sum"] for m in parts if m in stats)


def test_direct_and_internal_calls_have_agent_metrics_and_no_queue_ones(quiet_day, aggregates):
    results = aggregates(
        interval=quiet_day,
        metrics=ALL,
        filter=where(
            dimension("originatingDirection", "inbound"), dimension("queueId", operator="notExists")
        ),
    )
    groups = by_group(results)
    assert {dict(g)["mediaType"] for g in groups} == {"voice", "video"}
    for stats in groups.values():
        assert not (QUEUE_METRICS | {"nOutbound", "tDialing"}) & set(stats)
        assert stats["tTalk"]["count"] == stats["tAcw"]["count"] == stats["tHandle"]["count"] > 0
    assert "tHeld" in groups[(("mediaType", "voice"),)]


def test_a_transfer_is_offered_in_both_queues_and_counted_on_the_first_agent(
    quiet_day, aggregates, details_all
):
    conversations = details_all(interval=quiet_day)
    transferred = [
        c for c in conversations if sum(p["purpose"] == "acd" for p in c["participants"]) == 2
    ]
    assert transferred
    for c in transferred:
        queue_1, agent_1, queue_2 = c["participants"][1:4]
        records_1, records_2 = detail_records([{**c, "participants": [agent_1]}]), None
        transfer = next(r for r in records_1 if r.name == "nTransferred")
        entered = queue_2["sessions"][0]["segments"][0]
        assert entered["segmentStart"] == iso(transfer.emit_ms)
        records_2 = detail_records([{**c, "participants": [queue_2]}])
        offered_2 = next(r for r in records_2 if r.name == "nOffered")
        assert offered_2.emit_ms == transfer.emit_ms
        assert queue_1["participantName"] != queue_2["participantName"]
        assert agent_1["sessions"][0]["segments"][-2]["disconnectType"] == "transfer"

    found = totals(aggregates(interval=quiet_day, groupBy=["queueId"], metrics=ALL))
    assert found["nTransferred"]["count"] == len(transferred)
    queued = [c for c in conversations if any(p["purpose"] == "acd" for p in c["participants"])]
    assert found["nOffered"]["count"] == len(queued) + len(transferred)


def test_flow_outs_are_offered_and_waited_but_neither_answered_nor_abandoned(quiet_day, aggregates):
    groups = by_group(aggregates(interval=quiet_day, groupBy=["queueId"], metrics=ALL))
    flowed = 0
    for group, stats in groups.items():
        if "queueId" not in dict(group) or "nOffered" not in stats:
            continue
        left = [stats[m] for m in ("tAnswered", "tAbandon", "tFlowOut") if m in stats]
        assert stats["nOffered"]["count"] == stats["tWait"]["count"]
        assert stats["tWait"]["count"] == sum(s["count"] for s in left)
        assert stats["tWait"]["sum"] == sum(s["sum"] for s in left)
        flowed += stats.get("tFlowOut", {}).get("count", 0)
    assert flowed > 0


def test_short_abandons_are_the_abandons_under_ten_seconds(aggregates, details_all):
    interval = "2024-05-01T08:00:00Z/2024-05-01T16:00:00Z"
    sessions = [
        {m["name"]: m["value"] for m in s.get("metrics", [])}
        for c in details_all(interval=interval)
        for p in c["participants"]
        if p["purpose"] == "acd"
        for s in p["sessions"]
    ]
    abandons = [s for s in sessions if "tAbandon" in s]
    short = [s for s in abandons if s["tAbandon"] < org.SHORT_ABANDON_MS]
    assert short and len(short) < len(abandons)
    assert all(("tShortAbandon" in s) == (s in short) for s in sessions)
    assert all(s["tShortAbandon"] == s["tAbandon"] for s in short)
    found = totals(aggregates(interval=interval, metrics=["tAbandon", "tShortAbandon"]))
    assert 0 < found["tShortAbandon"]["count"] < found["tAbandon"]["count"]


def test_service_level_per_queue_media_and_bucket_has_the_queues_goal(
    client, token, quiet_day, aggregates
):
    queues = client.get(QUEUES_URL, headers={"Authorization": f"Bearer {token}"}).json()
    goals = {
        (q["id"], media): settings["serviceLevel"]["percentage"]
        for q in queues["entities"]
        for media, settings in q["mediaSettings"].items()
    }
    results = aggregates(interval=quiet_day, granularity="PT1H", groupBy=["queueId"], metrics=ALL)
    seen = 0
    for (group, _interval), stats in stats_by(results, by_interval=True).items():
        if "oServiceLevel" not in stats:
            continue
        level, group = stats["oServiceLevel"], dict(group)
        answered = stats.get("tAnswered", {}).get("count", 0)
        over = stats.get("nOverSla", {}).get("count", 0)
        abandoned = stats.get("tAbandon", {}).get("count", 0)
        short = stats.get("tShortAbandon", {}).get("count", 0)
        assert level["numerator"] == answered - over
        # Flow-outs and short abandons are not in the denominator (org.SERVICE_LEVEL_COUNTS_*).
        assert level["denominator"] == answered + abandoned - short
        assert level["ratio"] == pytest.approx(level["numerator"] / level["denominator"])
        key = org.MEDIA_SETTINGS_KEYS[group["mediaType"]]
        assert level["target"] == goals[(group["queueId"], key)]
        seen += 1
    assert seen > 20


def test_service_level_rolls_up_from_its_numerators_and_denominators(aggregates):
    interval = "2024-05-01T00:00:00Z/2024-05-02T00:00:00Z"
    hourly = aggregates(interval=interval, granularity="PT1H", metrics=["oServiceLevel"])
    daily = aggregates(interval=interval, metrics=["oServiceLevel"])
    rolled: Counter = Counter()
    for (group, _), stats in stats_by(hourly, by_interval=True).items():
        rolled[(group, "numerator")] += stats["oServiceLevel"]["numerator"]
        rolled[(group, "denominator")] += stats["oServiceLevel"]["denominator"]
    for group, stats in by_group(daily).items():
        level = stats["oServiceLevel"]
        assert (level["numerator"], level["denominator"]) == (
            rolled[(group, "numerator")],
            rolled[(group, "denominator")],
        )
        # Every media type mixes queues whose goals differ: no single target to give.
        assert "target" not in level


def test_goals_and_thresholds_differ_per_queue_and_media_type(quiet_day, aggregates, details_all):
    sales = org.QUEUES_BY_ID[org.SALES_ID].service_levels
    billing = org.QUEUES_BY_ID[org.BILLING_ID].service_levels
    assert (sales["voice"].percentage, sales["voice"].duration_ms) == (0.8, 20_000)
    assert (billing["email"].percentage, billing["email"].duration_ms) == (0.9, 4 * 3_600_000)
    # Answered past its own queue's threshold is over the service level, and only that.
    for c in details_all(interval=quiet_day):
        parts = c["participants"]
        for queue, agent in zip(parts, parts[1:], strict=False):
            if queue["purpose"] != "acd" or agent["purpose"] != "agent":
                continue
            queue_id = queue["sessions"][0]["segments"][0]["queueId"]
            media = queue["sessions"][0]["mediaType"]
            names = {m["name"] for m in queue["sessions"][0]["metrics"]}
            waited = next(
                m["value"] for m in agent["sessions"][0]["metrics"] if m["name"] == "tAnswered"
            )
            threshold = org.QUEUES_BY_ID[queue_id].service_levels[media].duration_ms
            assert ("nOverSla" in names) == (waited > threshold)


def test_each_hold_is_one_held_metric_on_every_media(quiet_day, aggregates, details_all):
    records = detail_records(details_all(interval=quiet_day))
    holds = [r for r in records if r.name == "tHeld"]
    held_sessions = {(r.user_id, r.emit_ms) for r in records if r.name == "tHeldComplete"}
    assert len(holds) > len(held_sessions) > 0  # several holds in some calls
    groups = by_group(aggregates(interval=quiet_day, metrics=["tHeld", "tHeldComplete"]))
    assert sum(s["tHeld"]["count"] for s in groups.values()) == len(holds)
    assert {"voice", "chat", "email", "message"} <= {dict(g)["mediaType"] for g in groups}


def test_callbacks_are_queued_and_video_is_not_one_of_the_queue_media(aggregates):
    interval = "2024-05-01T00:00:00Z/2024-05-08T00:00:00Z"
    groups = by_group(aggregates(interval=interval, groupBy=["queueId"], metrics=ALL))
    callback = [s for g, s in groups.items() if dict(g)["mediaType"] == "callback"]
    assert callback and all("nOffered" in s and "oServiceLevel" in s for s in callback)
    video = [g for g in groups if dict(g)["mediaType"] == "video"]
    assert video == [(("mediaType", "video"),)]
    assert set(org.MEDIA_TYPES) == {dict(g)["mediaType"] for g in groups}


def test_groups_lack_the_dimension_their_metrics_do_not_have(client, token, aggregates):
    interval = "2024-05-01T08:00:00Z/2024-05-01T12:00:00Z"
    groups = by_group(aggregates(interval=interval, groupBy=["userId"], metrics=ALL))
    users = client.get(
        USERS_URL, {"pageSize": 500}, headers={"Authorization": f"Bearer {token}"}
    ).json()
    known = {u["id"] for u in users["entities"]}
    with_user = {g: s for g, s in groups.items() if "userId" in dict(g)}
    without = {g: s for g, s in groups.items() if "userId" not in dict(g)}
    assert {dict(g)["userId"] for g in with_user} <= known
    assert len({dict(g)["userId"] for g in with_user}) > 20
    # The queue's own metrics have no agent; an agent's have no offer.
    agent_metrics = {"tAnswered", "tTalk", "tHeld", "tAcw", "tHandle", "nOutbound"}
    assert all("nOffered" not in s and agent_metrics & set(s) for s in with_user.values())
    assert all("nOffered" in s and not agent_metrics & set(s) for s in without.values())
    assert all(set(dict(g)) == {"mediaType", "userId"} for g in with_user)


@pytest.mark.parametrize(
    ("predicate", "present", "absent"),
    [
        (dimension("userId", operator="notExists"), {"nOffered", "tAbandon"}, {"tHandle"}),
        (dimension("userId", operator="exists"), {"tHandle", "tAnswered"}, {"nOffered"}),
        (dimension("queueId", operator="exists"), {"nOffered", "nOutbound"}, set()),
        (dimension("queueId", operator="notExists"), {"tHandle", "nOutbound"}, {"nOffered"}),
    ],
)
def test_exists_and_not_exists_mean_what_they_say(aggregates, predicate, present, absent):
    interval = "2024-05-01T08:00:00Z/2024-05-01T12:00:00Z"
    groups = by_group(aggregates(interval=interval, metrics=ALL, filter=where(predicate)))
    names = {name for stats in groups.values() for name in stats}
    assert present <= names and not absent & names
    # Video calls go straight to an agent, without a queue.
    media = {dict(g)["mediaType"] for g in groups}
    video = predicate in (
        dimension("queueId", operator="notExists"),
        dimension("userId", operator="exists"),
    )
    assert ("video" in media) is video


def test_a_user_filter_keeps_that_agents_metrics(aggregates, details_all):
    interval = "2024-05-01T08:00:00Z/2024-05-01T12:00:00Z"
    agent = org.AGENT_IDS[9]  # in Sales and Support
    found = totals(
        aggregates(interval=interval, metrics=ALL, filter=where(dimension("userId", agent)))
    )
    before = details_all(interval="2024-04-30T08:00:00Z/2024-05-01T08:00:00Z")
    mine = [
        r
        for r in detail_records(before + details_all(interval=interval))
        if r.user_id == agent and "2024-05-01T08" <= iso(r.emit_ms) < "2024-05-01T12"
    ]
    assert found["tHandle"]["count"] == sum(r.name == "tHandle" for r in mine) > 0
    assert found["tTalk"]["sum"] == sum(r.value for r in mine if r.name == "tTalk")
    assert "nOffered" not in found


def test_metrics_not_emitted_yet_are_absent(aggregates, time_machine):
    now = datetime(2024, 5, 1, 12, 0, 30, tzinfo=UTC)
    time_machine.move_to(now, tick=False)
    start, now_ms = org.to_ms(datetime(2024, 5, 1, 11, tzinfo=UTC)), org.to_ms(now)
    results = aggregates(
        interval="2024-05-01T11:00:00Z/2024-05-01T13:00:00Z",
        granularity="PT15M",
        metrics=["nOffered", "tHandle"],
    )
    legs = [
        leg
        for c in org.iter_conversations(start=now - timedelta(days=1), end=now)
        for leg in c.legs
    ]
    found = totals(results)
    assert found["nOffered"]["count"] == sum(
        leg.offered and start <= leg.enter_ms <= now_ms for leg in legs
    )
    assert found["tHandle"]["count"] == sum(
        leg.user_id is not None and start <= leg.wrapup_end_ms <= now_ms for leg in legs
    )
    later = [leg for leg in legs if leg.user_id and leg.wrapup_end_ms > now_ms]
    assert later  # calls still going on: their handle is not emitted yet
    intervals = {key[1] for key in stats_by(results, by_interval=True)}
    assert max(intervals) == "2024-05-01T12:00:00.000Z/2024-05-01T12:15:00.000Z"


def test_it_refuses_a_metric_it_does_not_emit_naming_those_it_does(client, token):
    from tests.genesys_sim.rest_helpers import AGGREGATES_URL

    response = client.post(
        AGGREGATES_URL,
        {"interval": "2024-05-01T00:00:00Z/2024-05-02T00:00:00Z", "metrics": ["tIvr"]},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 400
    message = response.json()["message"]
    assert "tIvr" in message and "tShortAbandon" in message and "nOutbound" in message
