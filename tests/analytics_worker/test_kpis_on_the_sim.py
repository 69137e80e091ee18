"""Every KPI of a day on the simulated org equals Genesys's definition applied to the day's
conversations, worked out here from the raw details answers (the sim's HTTP details query read
with plain dict code, none of the product's parsing or mapping).

The aggregates source counts each metric in the interval it was EMITTED in, so its day is every
metric whose emitDate falls in the day, whenever its conversation started; the details source
counts every metric of the conversations that STARTED in the day. Both ask for queue work only:
conversations with a queue somewhere in their segments; outbound work is counted apart.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from analytics_worker.fetch import report_fetch
from analytics_worker.reports import ReportSpec
from dashboard import kpis
from genesys_sim import org
from tests.analytics_worker.helpers import is_queue_work, raw_conversations

DAY = datetime(2024, 5, 1, tzinfo=UTC)
NEXT_DAY = DAY + timedelta(days=1)


@pytest.fixture
def sim(sim, settings):
    settings.GENESYS_RATE_LIMIT_PER_MINUTE = 60_000
    return sim


def metric_entries(conversation: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for participant in conversation["participants"]:
        for session in participant.get("sessions", []):
            yield from session.get("metrics", [])


def expected_kpis(conversations: list[dict[str, Any]], *, emitted_in_day: bool) -> dict:
    """Genesys's definitions (docs/METRICS.md), by hand: counts and sums of the metrics."""
    count: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for conversation in conversations:
        if not is_queue_work(conversation):
            continue
        outbound = conversation["originatingDirection"] == "outbound"
        for entry in metric_entries(conversation):
            emitted = datetime.fromisoformat(entry["emitDate"])
            if emitted_in_day and not DAY <= emitted < NEXT_DAY:
                continue
            name = entry["name"]
            if name in ("tHandle", "tHeld") and outbound:
                name = f"outbound {name}"
            count[name] += 1
            total[name] += entry["value"]
    short_abandons = count["tShortAbandon"]
    return {
        "offered": count["nOffered"],
        "answered": count["tAnswered"],
        "abandon_pct": 100 * count["tAbandon"] / count["nOffered"],
        "asa": total["tAnswered"] / count["tAnswered"] / 1000,
        # Time in queue per offer: tAcd is emitted once per offer, whatever its outcome.
        "avg_wait": total["tAcd"] / count["tAcd"] / 1000,
        "aht": total["tHandle"] / count["tHandle"] / 1000,
        "avg_hold": total["tHeld"] / count["tHeld"] / 1000,  # per hold
        "flowed_out": count["tFlowOut"],
        "short_abandoned": short_abandons,
        "transferred": count["nTransferred"],
        "outbound": count["nOutbound"],
        "outbound_aht": total["outbound tHandle"] / count["outbound tHandle"] / 1000,
        # The org's service-level settings (the simulated org's: short abandons are not in the
        # denominator); the details query has no oServiceLevel, so it uses Genesys's default.
        "sl_org": 100
        * (count["tAnswered"] - count["nOverSla"])
        / (count["tAnswered"] + count["tAbandon"] - short_abandons),
        "sl_default": 100
        * (count["tAnswered"] - count["nOverSla"])
        / (count["tAnswered"] + count["tAbandon"]),
    }


def day_report(source: str) -> dict[str, Any]:
    spec = ReportSpec(start=DAY, end=NEXT_DAY, granularity="P1D", source=source)
    return report_fetch(spec=spec)


def test_the_aggregates_day_is_genesys_definition_of_the_metrics_emitted_in_it(sim):
    # Every metric emitted in the day belongs to a conversation that started in it or, for a
    # long one, the day before.
    conversations = list(raw_conversations(DAY - timedelta(days=1), NEXT_DAY))
    expected = expected_kpis(conversations, emitted_in_day=True)
    report = day_report("aggregates")
    found = kpis.bucket_derive(report["totals"])
    for key in (
        "offered",
        "answered",
        "abandon_pct",
        "asa",
        "avg_wait",
        "aht",
        "avg_hold",
        "flowed_out",
        "short_abandoned",
        "transferred",
        "outbound",
        "outbound_aht",
    ):
        assert found[key] == pytest.approx(expected[key], rel=1e-9), key
    assert found["service_level_pct"] == pytest.approx(expected["sl_org"], rel=1e-9)
    # The numbers are real: a day has offers, abandons, flow-outs, transfers and outbound.
    assert min(expected["flowed_out"], expected["transferred"], expected["outbound"]) > 0
    assert expected["offered"] > 1000


def test_the_details_day_is_genesys_definition_of_the_conversations_started_in_it(sim):
    conversations = [
        c
        for c in raw_conversations(DAY, NEXT_DAY)
        if DAY <= datetime.fromisoformat(c["conversationStart"]) < NEXT_DAY
    ]
    expected = expected_kpis(conversations, emitted_in_day=False)
    found = kpis.bucket_derive(day_report("details")["totals"])
    for key in ("offered", "answered", "abandon_pct", "asa", "avg_wait", "aht", "avg_hold"):
        assert found[key] == pytest.approx(expected[key], rel=1e-9), key
    assert found["outbound_aht"] == pytest.approx(expected["outbound_aht"], rel=1e-9)
    assert found["service_level_pct"] == pytest.approx(expected["sl_default"], rel=1e-9)
    assert found["conversations"] == sum(1 for c in conversations if is_queue_work(c))


def test_queue_kpis_leave_out_direct_calls_and_agent_outbound(sim):
    report = day_report("aggregates")
    everything = org.count_conversations(start=DAY, end=NEXT_DAY)
    # Offers are fewer than all conversations (direct calls, outbound) yet more than the queued
    # conversations alone would be, since a transfer is offered in each queue.
    assert report["totals"]["offered"] < everything
    assert report["totals"]["outbound"] > 0
    assert report["totals"]["outbound_handle_count"] > 0


def session_groups(conversation: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict]]:
    """(what each breakdown files the session under, the session) of every session."""
    for participant in conversation["participants"]:
        for session in participant.get("sessions", []):
            queues = [s["queueId"] for s in session.get("segments", []) if s.get("queueId")]
            yield (
                {
                    "queue": queues[0] if queues else "",
                    "agent": participant.get("userId", ""),
                    "media": session["mediaType"],
                    "direction": conversation["originatingDirection"],
                },
                session,
            )


def expected_by_group(conversations: list[dict[str, Any]], group: str) -> dict[str, dict]:
    """Per group: offered, answered, abandoned, handle count and AHT of inbound work, talk and
    after-call work, transfers, by hand from the metrics emitted in the day."""
    count: dict[str, Counter[str]] = {}
    total: dict[str, Counter[str]] = {}
    for conversation in conversations:
        if not is_queue_work(conversation):
            continue
        outbound = conversation["originatingDirection"] == "outbound"
        for keys, session in session_groups(conversation):
            key = keys[group]
            for entry in session.get("metrics", []):
                if not DAY <= datetime.fromisoformat(entry["emitDate"]) < NEXT_DAY:
                    continue
                name = f"outbound {entry['name']}" if outbound else entry["name"]
                count.setdefault(key, Counter())[name] += 1
                total.setdefault(key, Counter())[name] += entry["value"]
    return {
        key: {
            "offered": counts["nOffered"],
            "answered": counts["tAnswered"],
            "abandoned": counts["tAbandon"],
            "handled": counts["tHandle"],
            "aht": total[key]["tHandle"] / counts["tHandle"] / 1000 if counts["tHandle"] else None,
            "talk": total[key]["tTalk"] / 1000,
            "acw": total[key]["tAcw"] / 1000,
            "transferred": counts["nTransferred"] + counts["outbound nTransferred"],
        }
        for key, counts in count.items()
    }


@pytest.mark.parametrize("group", ["queue", "agent", "media", "direction"])
def test_each_group_of_a_breakdown_is_genesys_definition_applied_to_its_sessions(sim, group):
    conversations = list(raw_conversations(DAY - timedelta(days=1), NEXT_DAY))
    expected = expected_by_group(conversations, group)
    spec = ReportSpec(start=DAY, end=NEXT_DAY, granularity="PT1H", source="aggregates", group=group)
    report = report_fetch(spec=spec)

    found = {g["id"]: g["totals"] for g in report["groups"]}
    # Every group with any metric in the day, and no other (the agent breakdown's "" holds the
    # queue's own metrics: offers, abandons and waits have no agent).
    assert set(found) == set(expected)
    for key, want in expected.items():
        totals = found[key]
        assert totals.get("offered", 0) == want["offered"], key
        assert totals.get("answered", 0) == want["answered"], key
        assert totals.get("abandoned", 0) == want["abandoned"], key
        assert totals.get("transferred", 0) == want["transferred"], key
        assert totals.get("talk_sum", 0) == pytest.approx(want["talk"], rel=1e-9), key
        assert totals.get("acw_sum", 0) == pytest.approx(want["acw"], rel=1e-9), key
        assert totals.get("handle_count", 0) == want["handled"], key
        aht = kpis.KPIS["aht"].value(totals)
        assert aht == (None if want["aht"] is None else pytest.approx(want["aht"], rel=1e-9))
    # The groups add up to the report's own totals, which are the plain report's; only the SL
    # goal differs: Genesys gives oServiceLevel a target where its group has one goal, and a
    # group per queue has one where a group of mixed queues has none.
    plain = report_fetch(
        spec=ReportSpec(start=DAY, end=NEXT_DAY, granularity="PT1H", source="aggregates")
    )

    # The agents' time in status comes with the agent breakdown only.
    status = ("on_queue_sum", "interacting_sum", "idle_sum", "not_responding_sum")

    def counts(totals: dict) -> dict:
        return {
            name: v
            for name, v in totals.items()
            if not name.startswith("sl_target") and name not in status
        }

    assert counts(report["totals"]) == counts(plain["totals"])
    assert sum(t.get("offered", 0) for t in found.values()) == plain["totals"]["offered"]
    # Per bucket too: each group's hourly offers sum to the report's.
    offers = [
        sum(g["series"].get("offered", [0] * 24)[hour] for g in report["groups"])
        for hour in range(24)
    ]
    assert offers == [b["offered"] for b in report["buckets"]]
    if group in ("queue", "agent"):
        assert len(found) > 3


def test_an_agents_time_in_status_is_the_simulated_orgs_timeline_of_their_conversations(sim):
    # The simulated centre runs around the clock: every agent is on queue all day, interacting
    # while any of their conversations' segments runs (wrap-up included), idle otherwise.
    day_start, day_end = DAY.timestamp(), NEXT_DAY.timestamp()
    busy: dict[str, list[tuple[float, float]]] = {}
    for conversation in raw_conversations(DAY - timedelta(days=1), NEXT_DAY):
        for participant in conversation["participants"]:
            if participant["purpose"] != "agent":
                continue
            for session in participant["sessions"]:
                for segment in session["segments"]:
                    start = datetime.fromisoformat(segment["segmentStart"]).timestamp()
                    end = datetime.fromisoformat(segment["segmentEnd"]).timestamp()
                    start, end = max(start, day_start), min(end, day_end)
                    if start < end:
                        busy.setdefault(participant["userId"], []).append((start, end))
    interacting = {}
    for agent, spans in busy.items():
        total, reach = 0.0, -1.0
        for start, end in sorted(spans):
            if end > reach:
                total += end - max(start, reach)
                reach = end
        interacting[agent] = total
    spec = ReportSpec(
        start=DAY, end=NEXT_DAY, granularity="PT1H", source="aggregates", group="agent"
    )
    report = report_fetch(spec=spec)
    found = {g["id"]: g["totals"] for g in report["groups"] if g["id"]}
    assert set(found) <= set(interacting)  # every agent who handled work, and no other
    assert len(found) > 10
    for agent, totals in found.items():
        assert totals["on_queue_sum"] == pytest.approx(86_400), agent
        assert totals["interacting_sum"] == pytest.approx(interacting[agent], abs=0.01), agent
        assert totals["idle_sum"] == pytest.approx(86_400 - interacting[agent], abs=0.01), agent
        occupancy = kpis.KPIS["occupancy"].value(totals)
        assert occupancy == pytest.approx(100 * interacting[agent] / 86_400, abs=1e-6)
    # Two requests a chunk: the conversation aggregates, then the agents' status times.
    assert report["fetch"]["requests"] <= 3
