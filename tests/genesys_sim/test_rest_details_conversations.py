"""The details query of a simulated org that behaves like a real one: outbound, direct and
internal work without a queue, holds, flow-outs, conversations still going on, conversations
that become visible some seconds after they start, agent and queue filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from genesys_sim import org
from tests.genesys_sim.helpers import conversations_variables
from tests.genesys_sim.rest_helpers import DETAILS_URL, detail_records, iso, ms

MORNING = "2024-05-01T08:00:00.000Z/2024-05-01T12:00:00.000Z"
MORNING_START, MORNING_END = (
    datetime(2024, 5, 1, 8, tzinfo=UTC),
    datetime(2024, 5, 1, 12, tzinfo=UTC),
)


def only(*predicates: dict, kind: str = "and") -> list[dict]:
    return [{"type": kind, "predicates": list(predicates)}]


def purposes(conversation: dict) -> list[str]:
    return [p["purpose"] for p in conversation["participants"]]


def metric_names(participant: dict) -> list[str]:
    return [m["name"] for s in participant["sessions"] for m in s.get("metrics", [])]


def test_outbound_is_placed_by_an_agent_without_a_queue_offer(details_all):
    found = details_all(
        interval=MORNING,
        conversationFilters=only({"dimension": "originatingDirection", "value": "outbound"}),
    )
    assert found
    queues = set()
    for c in found:
        assert purposes(c) == ["customer", "agent"]
        agent = c["participants"][1]
        names = metric_names(agent)
        assert "nOutbound" in names and "tHandle" in names
        assert not {"nOffered", "tAnswered", "tAcd"} & set(names)
        session = agent["sessions"][0]
        segment_types = [s["segmentType"] for s in session["segments"]]
        if session["mediaType"] == "voice":
            assert segment_types[:2] == ["dialing", "contacting"]
            assert {"tDialing", "tContacting"} <= set(names)
        queues.add(session["segments"][0].get("queueId"))
    # On behalf of a queue (the queue is on the agent's segments), or for none.
    assert None in queues and len(queues) > 1


def test_direct_and_internal_calls_reach_an_agent_without_a_queue(details_all):
    found = details_all(
        interval=MORNING,
        conversationFilters=only({"dimension": "originatingDirection", "value": "inbound"}),
        segmentFilters=only({"dimension": "queueId", "operator": "notExists"}),
    )
    assert {tuple(purposes(c)) for c in found} == {("customer", "agent"), ("user", "agent")}
    for c in found:
        agent = c["participants"][1]
        assert not {"nOffered", "tAnswered", "nOutbound"} & set(metric_names(agent))
        assert all("queueId" not in s for s in agent["sessions"][0]["segments"])
    media = {c["participants"][1]["sessions"][0]["mediaType"] for c in found}
    assert media == {"voice", "video"}


def test_holds_turn_about_with_talk_each_emitted_when_it_ends(details_all):
    found = details_all(interval=MORNING)
    held_media, several = set(), 0
    for c in found:
        for p in c["participants"]:
            if p["purpose"] != "agent":
                continue
            session = p["sessions"][0]
            segments = session["segments"]
            holds = [s for s in segments if s["segmentType"] == "hold"]
            metrics = {m["name"]: m for m in session["metrics"] if m["name"] != "tHeld"}
            held = [m for m in session["metrics"] if m["name"] == "tHeld"]
            assert [(m["value"], m["emitDate"]) for m in held] == [
                (ms(s["segmentEnd"]) - ms(s["segmentStart"]), s["segmentEnd"]) for s in holds
            ]
            talk = [s for s in segments if s["segmentType"] == "interact"]
            assert len(talk) == len(holds) + 1
            assert metrics["tTalk"]["value"] == sum(
                ms(s["segmentEnd"]) - ms(s["segmentStart"]) for s in talk
            )
            if holds:
                held_media.add(session["mediaType"])
                assert metrics["tHeldComplete"]["value"] == sum(m["value"] for m in held)
                several += len(holds) > 1
            assert metrics["tHandle"]["emitDate"] == segments[-1]["segmentEnd"]
            assert segments[-1]["segmentType"] == "wrapup"
    assert several > 0
    assert {"voice", "chat", "email", "message"} <= held_media


def test_a_flow_out_leaves_the_queue_unanswered_and_not_abandoned(details_all):
    found = details_all(interval="2024-05-01T08:00:00Z/2024-05-02T00:00:00Z")
    flowed = [
        (c, p)
        for c in found
        for p in c["participants"]
        if p["purpose"] == "acd" and "tFlowOut" in metric_names(p)
    ]
    assert flowed
    for c, queue in flowed:
        metrics = {m["name"]: m["value"] for m in queue["sessions"][0]["metrics"]}
        assert "tAbandon" not in metrics and metrics["tFlowOut"] == metrics["tAcd"]
        assert c["participants"][-1] is queue  # no agent after it


def conversation_going_on(at: datetime, *, in_wrapup: bool = False) -> org.Conversation:
    """A conversation of the morning still talking at `at`, or already in after-call work."""
    moment = org.to_ms(at)
    for c in org.iter_conversations(start=at - timedelta(hours=1), end=at - timedelta(minutes=2)):
        if not c.answered or c.visible_ms > moment:
            continue
        if in_wrapup and c.end_ms < moment < c.last_emit_ms:
            return c
        if not in_wrapup and c.legs[0].leave_ms < moment < c.end_ms:
            return c
    raise AssertionError(f"no conversation going on at {at}")


def test_a_conversation_still_going_on_has_no_end_and_only_metrics_emitted_so_far(
    details_all, graphql, time_machine
):
    now = datetime(2024, 5, 1, 10, 30, 15, tzinfo=UTC)
    time_machine.move_to(now, tick=False)
    talking, wrapping_up = conversation_going_on(now), conversation_going_on(now, in_wrapup=True)
    found = {
        c["conversationId"]: c
        for c in details_all(interval="2024-05-01T09:30:00Z/2024-05-01T10:30:00Z")
    }
    live, done = found[talking.id], found[wrapping_up.id]
    assert "conversationEnd" not in live and "conversationEnd" in done
    for c in (live, done):
        records = detail_records([c])
        assert records and all(r.emit_ms <= org.to_ms(now) for r in records)
        assert "tHandle" not in {r.name for r in records}
        last = c["participants"][-1]["sessions"][0]["segments"][-1]
        assert "segmentEnd" not in last and "disconnectType" not in last
    assert live["participants"][0]["sessions"][0]["segments"][0].keys() == {
        "segmentStart",
        "segmentType",
    }
    assert done["participants"][-1]["sessions"][0]["segments"][-1]["segmentType"] == "wrapup"

    variables = conversations_variables(
        "2024-05-01T09:30:00Z", "2024-05-01T10:30:00Z", pageSize=500
    )
    items = {i["id"]: i for i in graphql(variables).json()["data"]["conversations"]["items"]}
    assert items[talking.id]["endTime"] is None
    assert items[talking.id]["metrics"]["duration"] is None
    assert items[wrapping_up.id]["endTime"] == done["conversationEnd"]


@pytest.mark.parametrize("operator", ["exists", "notExists"])
def test_conversation_end_exists_keeps_the_finished_ones(details_all, time_machine, operator):
    now = datetime(2024, 5, 1, 10, 30, 15, tzinfo=UTC)
    time_machine.move_to(now, tick=False)
    interval = "2024-05-01T10:00:00Z/2024-05-01T10:30:00Z"
    everything = details_all(interval=interval)
    kept = details_all(
        interval=interval,
        conversationFilters=only({"dimension": "conversationEnd", "operator": operator}),
    )
    expected = [c for c in everything if ("conversationEnd" in c) == (operator == "exists")]
    assert kept == expected and kept


def test_it_refuses_to_match_conversation_end_against_a_value(client, token):
    response = client.post(
        DETAILS_URL,
        {
            "interval": MORNING,
            "conversationFilters": only({"dimension": "conversationEnd", "value": "x"}),
        },
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 400
    assert "exists or notExists" in response.json()["message"]


def test_a_conversation_is_seen_some_seconds_after_it_starts_so_pages_near_now_shift(
    details, time_machine
):
    delays = [
        c.visible_ms - c.start_ms
        for c in org.iter_conversations(start=MORNING_START, end=MORNING_END)
    ]
    assert min(delays) >= org.VISIBILITY_DELAY_MIN_MS
    assert max(delays) <= org.VISIBILITY_DELAY_MAX_MS and len(set(delays)) > 100

    # A moment at which a conversation that started earlier is not seen yet while a later one
    # is: it then comes in ahead of conversations already served.
    for minute in range(60):
        now = org.to_ms(datetime(2024, 5, 1, 11, tzinfo=UTC)) + minute * 60_000 + 30_000
        recent = list(
            org.iter_conversations(
                start=datetime.fromtimestamp((now - 120_000) / 1000, UTC),
                end=datetime.fromtimestamp(now / 1000, UTC),
            )
        )
        late = [c for c in recent if c.visible_ms > now]
        if late and any(c.start_ms > late[0].start_ms and c.visible_ms <= now for c in recent):
            break
    else:
        raise AssertionError("no moment of the hour shows a late conversation")
    late_one = late[0]
    near_now = f"{iso(now - 600_000)}/{iso(now)}"
    minute_before = f"{iso(now - 600_000)}/{iso(now - 60_000)}"

    def ids(interval: str, at: int) -> tuple[int, list[str]]:
        time_machine.move_to(datetime.fromtimestamp(at / 1000, UTC), tick=False)
        body = details(interval=interval, paging={"pageSize": 100, "pageNumber": 1})
        return body["totalHits"], [c["conversationId"] for c in body.get("conversations", [])]

    hits_then, then = ids(near_now, now)
    hits_later, later = ids(near_now, now + org.VISIBILITY_DELAY_MAX_MS)
    assert late_one.id not in then and late_one.id in later
    assert hits_later > hits_then
    # It comes in among those served before; what was at its place has moved down, so a client
    # paging meanwhile sees that one twice.
    position = later.index(late_one.id)
    assert later[:position] == then[:position]
    assert later.index(then[position]) > position
    # An interval that ends a minute before now does not move.
    assert ids(minute_before, now) == ids(minute_before, now + org.VISIBILITY_DELAY_MAX_MS)


def test_a_user_filter_finds_the_conversations_that_agent_took(details_all):
    agent = org.AGENT_IDS[20]
    found = details_all(
        interval=MORNING, segmentFilters=only({"dimension": "userId", "value": agent})
    )
    expected = [
        c.id
        for c in org.iter_conversations(start=MORNING_START, end=MORNING_END)
        if agent in c.user_ids
    ]
    assert [c["conversationId"] for c in found] == expected and expected
    for c in found:
        assert agent in [p.get("userId") for p in c["participants"]]


def test_user_id_not_exists_finds_the_conversations_no_agent_took(details_all):
    found = details_all(
        interval=MORNING, segmentFilters=only({"dimension": "userId", "operator": "notExists"})
    )
    assert found
    for c in found:
        assert "agent" not in purposes(c)
        assert {"tAbandon", "tFlowOut"} & set(metric_names(c["participants"][-1]))
