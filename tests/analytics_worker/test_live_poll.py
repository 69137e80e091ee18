"""The live poller: polls only while someone watches, one request per 100 watched queues
whatever the number of screens, one snapshot per view with a version, today's counts from the
report cache, and backing off when the shared budget is short or Genesys fails."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
import responses

from analytics_worker import cache, live
from analytics_worker.genesys.auth import client_fingerprint
from analytics_worker.redis_client import (
    live_watch_key,
    rate_limit_next_key,
    rate_limit_pause_key,
)
from tests.helpers import enqueued_jobs

pytestmark = pytest.mark.django_db
OBSERVATIONS = "http://genesys.test/api/v2/analytics/queues/observations/query"
QUEUES = "http://genesys.test/api/v2/routing/queues"
NAMES = {"q-sales": "Sales", "q-support": "Support", "q-billing": "Billing"}


def _observation_answer(request: Any) -> tuple[int, dict[str, str], str]:
    """Each asked queue: waiting = its number in the request, one idle agent."""
    body = orjson.loads(request.body)
    results = [
        {
            "group": {"queueId": p["value"]},
            "data": [
                {"metric": "oWaiting", "stats": {"count": n + 1}},
                {"metric": "oInteracting", "stats": {"count": 2}},
                {"metric": "oUserRoutingStatuses", "qualifier": "IDLE", "stats": {"count": 1}},
                {"metric": "oUserRoutingStatuses", "qualifier": "OFF_QUEUE", "stats": {"count": 3}},
            ],
        }
        for n, p in enumerate(body["filter"]["predicates"])
    ]
    return 200, {}, orjson.dumps({"results": results}).decode()


@pytest.fixture
def genesys(api: responses.RequestsMock, settings) -> responses.RequestsMock:
    settings.LIVE_POLL_SECONDS = 10
    api.add_callback(responses.POST, OBSERVATIONS, callback=_observation_answer)
    api.get(
        QUEUES,
        json={"entities": [{"id": i, "name": n} for i, n in NAMES.items()], "pageCount": 1},
    )
    return api


def _observation_calls(mock: responses.RequestsMock) -> list[dict[str, Any]]:
    return [orjson.loads(c.request.body) for c in mock.calls if c.request.url == OBSERVATIONS]


def _snapshot(queue_ids: list[str]) -> dict[str, Any]:
    snapshot = live.live_snapshot_read(queue_ids=queue_ids)
    assert snapshot is not None
    return orjson.loads(snapshot.payload)


def test_nobody_watching_sends_nothing(genesys, enqueued):
    assert live.live_poll() == "idle"
    assert _observation_calls(genesys) == []


def test_a_hundred_screens_on_one_view_cost_one_request_per_poll(genesys, enqueued, fake_redis):
    for _ in range(100):
        assert live.live_snapshot_read(queue_ids=["q-support", "q-sales"]) is None
    now = time.time()
    assert live.live_poll(now=now) == "polled"
    assert len(_observation_calls(genesys)) == 1
    payload = _snapshot(["q-sales", "q-support"])  # the same view, in any order
    assert payload["as_of"] == now
    assert [q["name"] for q in payload["queues"]] == ["Sales", "Support"]
    assert payload["queues"][0]["agents"] == {
        "idle": 1,
        "interacting": 0,
        "not_responding": 0,
        "off_queue": 3,
    }
    # The watcher lives LIVE_WATCH_SECONDS after the last read.
    ttl = fake_redis.ttl(live_watch_key(live.live_view_key(["q-sales", "q-support"])))
    assert 0 < ttl <= 30


def test_views_share_one_request_per_100_queues_of_their_union(genesys, enqueued, settings):
    many = [f"q{n:03d}" for n in range(150)]
    live.live_version_read(queue_ids=many[:120])
    live.live_version_read(queue_ids=many[100:])
    live.live_version_read(queue_ids=["q-sales"])
    assert live.live_poll() == "polled"
    sizes = sorted(len(b["filter"]["predicates"]) for b in _observation_calls(genesys))
    assert sizes == [51, 100]  # 151 distinct queues
    assert len(_snapshot(many[100:])["queues"]) == 50


def test_each_poll_writes_a_new_version_and_one_poll_per_interval(genesys, enqueued):
    live.live_version_read(queue_ids=["q-sales"])
    now = time.time()
    assert live.live_poll(now=now) == "polled"
    first = live.live_version_read(queue_ids=["q-sales"])
    assert live.live_poll(now=now + 1) == "busy"  # a second tick in the same interval
    assert len(_observation_calls(genesys)) == 1
    live.get_redis().delete(live.live_poll_slot_key())  # the interval has passed
    assert live.live_poll(now=now + 10) == "polled"
    assert live.live_version_read(queue_ids=["q-sales"]) not in (None, first)


def test_polling_stops_when_the_last_screen_goes(genesys, enqueued, time_machine, settings):
    time_machine.move_to("2024-05-02 12:00:00Z", tick=False)
    live.live_version_read(queue_ids=["q-sales"])
    assert live.live_poll() == "polled"
    time_machine.shift(settings.LIVE_WATCH_SECONDS + 1)
    assert live.live_poll() == "idle"
    assert len(_observation_calls(genesys)) == 1


def test_a_short_budget_skips_polls_and_says_why_keeping_the_old_numbers(
    genesys, enqueued, fake_redis
):
    live.live_version_read(queue_ids=["q-sales"])
    now = time.time()
    assert live.live_poll(now=now) == "polled"
    # Big fetches hold the shared limiter's slots for the next minute.
    fake_redis.set(rate_limit_next_key(client_fingerprint()), repr(now + 70))
    fake_redis.delete(live.live_poll_slot_key())
    assert live.live_poll(now=now + 10) == "budget"
    assert len(_observation_calls(genesys)) == 1
    payload = _snapshot(["q-sales"])
    assert payload["as_of"] == now  # still the last poll's time
    assert payload["queues"][0]["waiting"] == 1
    assert "budget of requests to Genesys" in payload["error"]
    # Backing off: the next turns are skipped without looking (doubling to 20 s).
    fake_redis.delete(live.live_poll_slot_key())
    assert live.live_poll(now=now + 20) == "backoff"
    fake_redis.delete(rate_limit_next_key(client_fingerprint()))
    fake_redis.delete(live.live_poll_slot_key())
    assert live.live_poll(now=now + 31) == "polled"
    assert _snapshot(["q-sales"])["error"] is None


def test_a_429_pause_skips_the_poll(genesys, enqueued, fake_redis):
    live.live_version_read(queue_ids=["q-sales"])
    now = time.time()
    fake_redis.set(rate_limit_pause_key(client_fingerprint()), repr(now + 42))
    assert live.live_poll(now=now) == "budget"
    assert _observation_calls(genesys) == []
    assert "HTTP 429" in _snapshot(["q-sales"])["error"]


def test_a_genesys_failure_is_recorded_and_backs_off(api, enqueued, settings):
    api.post(OBSERVATIONS, status=403, json={"message": "Missing analytics:queueObservation:view"})
    live.live_version_read(queue_ids=["q-sales"])
    assert live.live_poll() == "failed"
    payload = _snapshot(["q-sales"])
    assert payload["as_of"] is None and payload["queues"] == []
    assert "analytics:queueObservation:view" in payload["error"]


def test_today_comes_from_the_report_cache_and_a_miss_starts_its_fetch(genesys, enqueued):
    now = time.time()
    spec = live.live_today_spec("q-sales", now=now)
    report = {
        "source": "aggregates",
        "service_level_goal": {"percentage": 0.8, "duration_ms": 20000},
        "totals": {"offered": 120, "answered": 110, "abandoned": 6, "sl_numerator": 90,
                   "sl_denominator": 116, "talk_sum": 1.0},
    }  # fmt: skip
    cache.result_put(
        report_key=spec.key,
        payload=orjson.dumps(report),
        as_of=now - 30,
        fresh_seconds=120,
        ttl_seconds=600,
    )
    live.live_version_read(queue_ids=["q-sales", "q-support"])
    assert live.live_poll(now=now) == "polled"
    sales, support = _snapshot(["q-sales", "q-support"])["queues"]
    assert sales["today"]["status"] == "fresh"
    assert sales["today"]["as_of"] == now - 30
    assert sales["today"]["report"]["totals"] == {
        "offered": 120,
        "answered": 110,
        "abandoned": 6,
        "sl_numerator": 90,
        "sl_denominator": 116,
    }
    assert support["today"] == {"status": "pending", "as_of": None, "report": None}
    support_spec = live.live_today_spec("q-support", now=now)
    # One fetch for the missing report, ahead of prefetch (someone is watching).
    assert [key for key, _ in enqueued_jobs(enqueued)] == [support_spec.key]
    assert enqueued.call_args.kwargs["priority"] == 0
