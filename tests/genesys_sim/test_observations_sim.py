"""POST /sim/api/v2/analytics/queues/observations/query: what each queue holds at a moment,
checked against the org's conversations counted here by hand (org.iter_conversations)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from genesys_sim import observations, org

URL = "/sim/api/v2/analytics/queues/observations/query"
# A busy weekday noon (UTC), with a busy org: every queue has calls waiting and agents talking.
NOON = datetime(2024, 5, 2, 12, 0, 7, tzinfo=UTC)
METRICS = ["oWaiting", "oInteracting", "oAlerting", "oOnQueueUsers", "oUserRoutingStatuses"]


@pytest.fixture(autouse=True)
def busy_org(settings, time_machine) -> None:
    settings.GENESYS_SIM_CONVERSATIONS_PER_DAY = 20_000
    time_machine.move_to(NOON, tick=False)


@pytest.fixture
def observe(client, token):
    def post(queue_ids: list[str], *, status: int = 200, **body: Any) -> Any:
        body.setdefault("metrics", METRICS)
        body.setdefault("detailMetrics", ["oWaiting"])
        body.setdefault(
            "filter",
            {
                "type": "or",
                "predicates": [
                    {"type": "dimension", "dimension": "queueId", "value": q} for q in queue_ids
                ],
            },
        )
        response = client.post(
            URL, body, content_type="application/json", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == status, response.content
        return response.json()

    return post


def _by_hand(at: datetime) -> dict[str, dict[str, Any]]:
    """Each queue's waiting (enter times), alerting and interacting at `at`, and who is busy,
    counted from the conversations with the rules of genesys_sim/observations.py."""
    at_ms = int(at.timestamp() * 1000)
    counts = {q.id: {"waiting": [], "alerting": 0, "interacting": 0} for q in org.QUEUES}
    busy = set()
    for conversation in org.iter_conversations(
        start=at - timedelta(hours=17), end=at + timedelta(milliseconds=1)
    ):
        for leg in conversation.legs:
            ring = min(5_000, leg.wait_ms) if leg.outcome == "answered" else 0
            if leg.user_id and leg.leave_ms - ring <= at_ms < leg.wrapup_end_ms:
                busy.add(leg.user_id)
            if leg.queue_id is None:
                continue
            if leg.offered and leg.enter_ms <= at_ms < leg.leave_ms - ring:
                counts[leg.queue_id]["waiting"].append(leg.enter_ms)
            elif leg.offered and leg.leave_ms - ring <= at_ms < leg.leave_ms:
                counts[leg.queue_id]["alerting"] += 1
            elif leg.user_id and leg.leave_ms <= at_ms < leg.disconnect_ms:
                counts[leg.queue_id]["interacting"] += 1
    for queue in org.QUEUES:
        counts[queue.id]["busy"] = sum(1 for a in queue.agent_ids if a in busy)
    return counts


def _stat(data: list[dict[str, Any]], metric: str, qualifier: str | None = None) -> int:
    [entry] = [d for d in data if d["metric"] == metric and d.get("qualifier") == qualifier]
    return entry["stats"]["count"]


def _queue_group(results: list[dict[str, Any]], queue_id: str) -> list[dict[str, Any]]:
    [group] = [r for r in results if r["group"] == {"queueId": queue_id}]
    return group["data"]


def test_it_answers_what_each_queue_holds_now_as_the_conversations_say(observe):
    expected = _by_hand(NOON)
    results = observe([q.id for q in org.QUEUES])["results"]
    assert sum(len(e["waiting"]) for e in expected.values()) > 5  # a test that can fail
    for queue in org.QUEUES:
        data = _queue_group(results, queue.id)
        assert _stat(data, "oWaiting") == len(expected[queue.id]["waiting"]), queue.name
        assert _stat(data, "oAlerting") == expected[queue.id]["alerting"], queue.name
        assert _stat(data, "oInteracting") == expected[queue.id]["interacting"], queue.name
        assert _stat(data, "oUserRoutingStatuses", "INTERACTING") == expected[queue.id]["busy"]
        statuses = sum(
            _stat(data, "oUserRoutingStatuses", s) for s in observations.ROUTING_STATUSES
        )
        assert statuses == len(queue.agent_ids)  # every member once
        on_queue = sum(
            _stat(data, "oOnQueueUsers", s) for s in ("IDLE", "INTERACTING", "NOT_RESPONDING")
        )
        assert on_queue == len(queue.agent_ids) - _stat(data, "oUserRoutingStatuses", "OFF_QUEUE")


def test_the_waiting_list_is_oldest_first_and_names_the_longest_wait(observe):
    expected = _by_hand(NOON)
    results = observe([q.id for q in org.QUEUES])["results"]
    for queue in org.QUEUES:
        waiting = sorted(expected[queue.id]["waiting"])
        [entry] = [d for d in _queue_group(results, queue.id) if d["metric"] == "oWaiting"]
        if not waiting:
            assert "observations" not in entry
            continue
        dates = [o["observationDate"] for o in entry["observations"]]
        oldest = datetime.fromtimestamp(waiting[0] / 1000, UTC)
        assert datetime.fromisoformat(dates[0]) == oldest
        assert dates == sorted(dates)
        assert entry.get("truncated", False) == (len(waiting) > observations.DETAIL_LIST_MAX)


def test_the_numbers_move_as_conversations_arrive_and_are_answered(observe, time_machine):
    sales = org.SALES_ID
    seen = []
    for seconds in range(0, 600, 60):
        at = NOON + timedelta(seconds=seconds)
        time_machine.move_to(at, tick=False)
        data = _queue_group(observe([sales])["results"], sales)
        assert _stat(data, "oWaiting") == len(_by_hand(at)[sales]["waiting"])
        seen.append(_stat(data, "oWaiting"))
    assert len(set(seen)) > 1


def test_media_type_groups_add_up_to_the_queue(observe):
    results = observe([org.SUPPORT_ID])["results"]
    total = _stat(_queue_group(results, org.SUPPORT_ID), "oInteracting")
    media = [r for r in results if "mediaType" in r["group"]]
    assert media and sum(_stat(r["data"], "oInteracting") for r in media) == total


def test_an_unknown_queue_answers_zeros(observe):
    data = _queue_group(observe(["no-such-queue"])["results"], "no-such-queue")
    assert _stat(data, "oWaiting") == 0
    assert _stat(data, "oUserRoutingStatuses", "IDLE") == 0


def test_it_refuses_more_than_100_queues_and_200_predicates(observe):
    body = observe([f"q{n}" for n in range(101)], status=400)
    assert "at most 100 queues" in body["message"]
    body = observe(["q1"] * 201, status=400)
    assert "at most 200 predicates" in body["message"]
    observe([f"q{n}" for n in range(100)])


def test_it_refuses_metrics_it_does_not_simulate_and_needs_a_token(observe, client):
    body = observe([org.SALES_ID], metrics=["oWaiting", "oMemberUsers"], status=400)
    assert "oMemberUsers" in body["message"]
    assert client.post(URL, {}, content_type="application/json").status_code == 401
