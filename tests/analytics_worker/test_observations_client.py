"""The queue observations client: chunked at 100 queues, parsed into one QueueObservation per
queue, against a fake Genesys and against the simulated org."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from analytics_worker import live
from analytics_worker.genesys.errors import GenesysProtocolError
from analytics_worker.genesys.observations import queue_observations_query
from genesys_sim import org

URL = "http://genesys.test/api/v2/analytics/queues/observations/query"


def _group(queue_id: str, **extra: str) -> dict[str, str]:
    return {"queueId": queue_id, **extra}


def test_it_sends_one_request_per_100_queues_each_queue_once(api):
    api.post(URL, json={"results": []})
    queue_ids = [f"q{n:03d}" for n in range(250)] + ["q000"]
    found = queue_observations_query(queue_ids=queue_ids)
    bodies = [orjson.loads(c.request.body) for c in api.calls if c.request.url == URL]
    assert [len(b["filter"]["predicates"]) for b in bodies] == [100, 100, 50]
    sent = [p["value"] for b in bodies for p in b["filter"]["predicates"]]
    assert sent == [f"q{n:03d}" for n in range(250)]
    assert bodies[0]["detailMetrics"] == ["oWaiting"]
    # Queues Genesys said nothing about are there, with zeros.
    assert len(found) == 250 and found["q007"].waiting == 0


def test_it_reads_counts_statuses_and_the_oldest_wait_of_the_queue_group(api):
    api.post(
        URL,
        json={
            "results": [
                {
                    "group": _group("q1"),
                    "data": [
                        {
                            "metric": "oWaiting",
                            "stats": {"count": 3},
                            "truncated": True,
                            "observations": [
                                {"observationDate": "2024-05-02T11:58:10.000Z"},
                                {"observationDate": "2024-05-02T11:55:00.000Z"},
                            ],
                        },
                        {"metric": "oInteracting", "stats": {"count": 7}},
                        {"metric": "oAlerting", "stats": {"count": 1}},
                        {
                            "metric": "oUserRoutingStatuses",
                            "qualifier": "IDLE",
                            "stats": {"count": 2},
                        },
                        {
                            "metric": "oUserRoutingStatuses",
                            "qualifier": "OFF_QUEUE",
                            "stats": {"count": 4},
                        },
                        {"metric": "oOnQueueUsers", "qualifier": "IDLE", "stats": {"count": 2}},
                    ],
                },
                # The per-media parts of the same queue must not be added to its own group.
                {
                    "group": _group("q1", mediaType="voice"),
                    "data": [{"metric": "oWaiting", "stats": {"count": 3}}],
                },
                # A queue answered only per media type is the sum of its parts.
                {
                    "group": _group("q2", mediaType="chat"),
                    "data": [{"metric": "oWaiting", "stats": {"count": 1}}],
                },
                {
                    "group": _group("q2", mediaType="voice"),
                    "data": [{"metric": "oWaiting", "stats": {"count": 2}}],
                },
            ]
        },
    )
    found = queue_observations_query(queue_ids=["q1", "q2"])
    q1 = found["q1"]
    assert (q1.waiting, q1.interacting, q1.alerting) == (3, 7, 1)
    assert q1.oldest_waiting_since == datetime(2024, 5, 2, 11, 55, tzinfo=UTC)
    assert q1.users_by_status == {"IDLE": 2, "OFF_QUEUE": 4}
    assert found["q2"].waiting == 3 and found["q2"].oldest_waiting_since is None


def test_an_answer_without_results_is_a_protocol_error(api):
    api.post(URL, json={"entities": []})
    with pytest.raises(GenesysProtocolError, match="GENESYS_API_URL"):
        queue_observations_query(queue_ids=["q1"])


def test_it_reads_the_simulated_org_as_it_counts_itself(sim, settings, monkeypatch):
    from genesys_sim import observations

    settings.GENESYS_SIM_CONVERSATIONS_PER_DAY = 20_000
    at_ms = int(datetime(2024, 5, 2, 12, 0, 7, tzinfo=UTC).timestamp() * 1000)
    monkeypatch.setattr(observations, "now_ms", lambda: at_ms)
    found = queue_observations_query(queue_ids=[q.id for q in org.QUEUES])
    truth = observations.org_at(at_ms)
    assert sum(o.waiting for o in found.values()) > 0
    for queue in org.QUEUES:
        now = truth.queues[queue.id]
        seen = found[queue.id]
        assert (seen.waiting, seen.alerting, seen.interacting) == (
            len(now.waiting),
            len(now.alerting),
            len(now.interacting),
        )
        if now.waiting:
            oldest_ms = now.waiting[0][1].enter_ms
            assert seen.oldest_waiting_since == datetime.fromtimestamp(oldest_ms / 1000, UTC)
        assert sum(seen.users_by_status.values()) == len(queue.agent_ids)


def test_against_the_simulated_org_the_snapshot_holds_what_waits_there(
    sim, settings, monkeypatch, enqueued
):
    from datetime import UTC, datetime, timedelta

    from genesys_sim import observations, org

    settings.GENESYS_SIM_CONVERSATIONS_PER_DAY = 20_000
    moment = datetime(2024, 5, 2, 12, 0, 7, tzinfo=UTC)
    at_ms = int(moment.timestamp() * 1000)
    monkeypatch.setattr(observations, "now_ms", lambda: at_ms)
    # Counted by hand from the conversations: legs in the queue, not yet ringing an agent.
    waiting = {q.id: 0 for q in org.QUEUES}
    for conversation in org.iter_conversations(
        start=moment - timedelta(hours=17), end=moment + timedelta(milliseconds=1)
    ):
        for leg in conversation.legs:
            ring = min(5_000, leg.wait_ms) if leg.outcome == "answered" else 0
            if leg.offered and leg.enter_ms <= at_ms < leg.leave_ms - ring:
                waiting[leg.queue_id] += 1
    assert sum(waiting.values()) > 0
    live.live_version_read(queue_ids=[])  # all queues
    assert live.live_poll() == "polled"
    snapshot = live.live_snapshot_read(queue_ids=[])
    assert snapshot is not None
    tiles = {q["name"]: q["waiting"] for q in orjson.loads(snapshot.payload)["queues"]}
    assert tiles == {q.name: waiting[q.id] for q in org.QUEUES}
