"""/live and /api/live: the page shell, the JSON with ETag/304, today's KPIs, the tiles' colours
and staleness, all read from the snapshot the poller writes (here through the real poller
against a fake Genesys)."""

from __future__ import annotations

import re
import time
from typing import Any
from unittest import mock

import orjson
import pytest
import responses

from analytics_worker import cache, live
from dashboard import live_views
from dashboard.models import LiveThreshold
from tests.dashboard.helpers import CommandLog

pytestmark = pytest.mark.django_db
OBSERVATIONS = "http://genesys.test/api/v2/analytics/queues/observations/query"
QUEUES = "http://genesys.test/api/v2/routing/queues"
SALES, SUPPORT = "q-sales", "q-support"


@pytest.fixture(autouse=True)
def fresh_parts_cache() -> None:
    from dashboard import live_views

    live_views._PARTS_CACHE.clear()


@pytest.fixture
def org(api: responses.RequestsMock, settings) -> dict[str, dict[str, Any]]:
    """A fake Genesys whose queues hold what the test puts in this dict (queue id -> state)."""
    settings.REPORT_DEFAULT_TIME_ZONE = "UTC"
    state: dict[str, dict[str, Any]] = {
        SALES: {"waiting": 0, "idle": 2, "since": None},
        SUPPORT: {"waiting": 0, "idle": 2, "since": None},
    }

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        results = []
        for predicate in orjson.loads(request.body)["filter"]["predicates"]:
            queue = state[predicate["value"]]
            waiting: dict[str, Any] = {"metric": "oWaiting", "stats": {"count": queue["waiting"]}}
            if queue["since"] is not None:
                waiting["observations"] = [{"observationDate": queue["since"]}]
            results.append(
                {
                    "group": {"queueId": predicate["value"]},
                    "data": [
                        waiting,
                        {"metric": "oInteracting", "stats": {"count": 4}},
                        {"metric": "oAlerting", "stats": {"count": 1}},
                        {
                            "metric": "oUserRoutingStatuses",
                            "qualifier": "IDLE",
                            "stats": {"count": queue["idle"]},
                        },
                        {
                            "metric": "oUserRoutingStatuses",
                            "qualifier": "INTERACTING",
                            "stats": {"count": 4},
                        },
                    ],
                }
            )
        return 200, {}, orjson.dumps({"results": results}).decode()

    api.add_callback(responses.POST, OBSERVATIONS, callback=answer)
    api.get(
        QUEUES,
        json={
            "entities": [
                {
                    "id": SALES,
                    "name": "Sales",
                    "mediaSettings": {
                        "call": {"serviceLevel": {"percentage": 0.8, "durationMs": 20000}}
                    },
                },
                {"id": SUPPORT, "name": "Support"},
            ],
            "pageCount": 1,
        },
    )
    return state


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(epoch))


def _poll(now: float) -> None:
    live.get_redis().delete(live.live_poll_slot_key())
    assert live.live_poll(now=now) == "polled"


def _today(queue_id: str, *, now: float, offered: int, answered: int, abandoned: int,
           sl: tuple[int, int]) -> None:  # fmt: skip
    spec = live.live_today_spec(queue_id, now=now)
    report = {
        "source": "aggregates",
        "service_level_goal": {"percentage": 0.8, "duration_ms": 20000},
        "totals": {"offered": offered, "answered": answered, "abandoned": abandoned,
                   "sl_numerator": sl[0], "sl_denominator": sl[1]},
    }  # fmt: skip
    cache.result_put(
        report_key=spec.key, payload=orjson.dumps(report), as_of=now, fresh_seconds=600,
        ttl_seconds=600,
    )  # fmt: skip


def _tile(body: dict[str, Any], queue_id: str) -> dict[str, Any]:
    [tile] = [t for t in body["queues"] if t["id"] == queue_id]
    return tile


def test_the_page_needs_a_login_and_has_no_inline_script(client, client_alice):
    assert client.get("/live").status_code == 302
    response = client_alice.get("/live?queue=q-sales&dark=1")
    assert response.status_code == 200
    html = response.content.decode()
    assert "live--dark" in html
    config = re.search(r'<script id="live-config" type="application/json">(.*?)</script>', html)
    assert config and orjson.loads(config.group(1))["apiUrl"] == "/api/live?queue=q-sales"
    # Every other script is a file: the CSP forbids inline ones.
    scripts = re.findall(r"<script([^>]*)>", html)
    assert all("src=" in attrs or "application/json" in attrs for attrs in scripts)
    assert "script-src 'self'" in response["Content-Security-Policy"]


def test_a_poll_of_a_known_session_is_one_round_trip(
    client_alice, org, enqueued, fake_redis, monkeypatch
):
    """The session, the user's copy, the watcher's renewal and the snapshot's version in one
    MULTI (dashboard.sessions session_load_with): a screen's poll waits on Redis once."""
    client_alice.get("/api/live?queue=q-sales")
    _poll(time.time())
    etag = client_alice.get("/api/live?queue=q-sales")["ETag"]
    log = CommandLog(fake_redis, monkeypatch)
    response = client_alice.get("/api/live?queue=q-sales", headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert log.names() == [["MGET", "SET", "ZADD", "HMGET"]]
    log.batches.clear()
    assert client_alice.get("/api/live?queue=q-sales").status_code == 200
    assert log.names()[0] == ["MGET", "SET", "ZADD", "HMGET"]


def test_a_screen_s_queue_filter_is_checked_once(client_alice, org, enqueued):
    live_views._queue_ids_of.cache_clear()
    with mock.patch.object(
        live_views.reports, "report_spec_build", wraps=live_views.reports.report_spec_build
    ) as build:
        for _ in range(3):
            assert client_alice.get("/api/live?queue=q-sales&queue=q-support").status_code == 200
        assert build.call_count == 1
        for _ in range(2):  # a refused filter is refused every time
            assert client_alice.get("/api/live?queue=bad%20id").status_code == 400
        assert build.call_count == 3


def test_a_stranger_renews_no_watcher(client, org, enqueued):
    response = client.get("/api/live?queue=q-sales")
    assert response.status_code == 401
    assert live.live_watched_views() == {}


def test_a_bad_queue_filter_names_it(client_alice):
    response = client_alice.get("/api/live?queue=bad%20id")
    assert response.status_code == 400
    assert "is not a valid id" in response.json()["error"]
    assert client_alice.get("/live?queue=bad%20id").status_code == 400


def test_the_api_needs_a_login(client):
    response = client.get("/api/live")
    assert response.status_code == 401
    assert "Log in" in response.json()["error"]


def test_before_the_first_poll_it_says_it_is_starting_and_the_read_asks_for_polls(
    client_alice, org, enqueued
):
    body = client_alice.get("/api/live?queue=q-sales").json()
    assert body["status"] == "starting" and body["queues"] == []
    assert "Starting live data" in body["message"]
    # The read registered a watcher: the next poll asks Genesys for that queue.
    assert live.live_watched_views() == {live.live_view_key([SALES]): [SALES]}


def test_it_serves_the_snapshot_with_an_etag_and_304s_until_the_next_poll(
    client_alice, org, enqueued, django_assert_num_queries
):
    client_alice.get("/api/live?queue=q-sales&queue=q-support")
    now = time.time()
    org[SALES].update(waiting=3, since=_iso(now - 95))
    _poll(now)
    response = client_alice.get("/api/live?queue=q-sales&queue=q-support")
    assert response.status_code == 200
    etag = response["ETag"]
    body = response.json()
    assert body["status"] == "live" and body["as_of"] == now
    sales = _tile(body, SALES)
    assert (sales["waiting"], sales["interacting"], sales["alerting"]) == (3, 4, 1)
    assert sales["agents"]["idle"] == 2 and sales["agents"]["interacting"] == 4
    assert sales["longest_wait"] in ("1:35", "1:36")  # the request may cross a second
    assert 'data-since="' in body["tiles_html"] and "Sales" in body["tiles_html"]

    # Unchanged: 304, no body, no thresholds read, and the session and its user from Redis.
    with django_assert_num_queries(0):
        again = client_alice.get(
            "/api/live?queue=q-support&queue=q-sales", headers={"If-None-Match": etag}
        )
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == etag

    org[SALES].update(waiting=0, since=None)
    _poll(now + 10)
    changed = client_alice.get(
        "/api/live?queue=q-sales&queue=q-support", headers={"If-None-Match": etag}
    )
    assert changed.status_code == 200 and changed["ETag"] != etag
    assert _tile(changed.json(), SALES)["waiting"] == 0


def test_today_shows_offered_answered_abandon_and_sl_against_target(client_alice, org, enqueued):
    now = time.time()
    _today(SALES, now=now, offered=120, answered=108, abandoned=6, sl=(99, 114))
    client_alice.get("/api/live?queue=q-sales")
    _poll(now)
    today = _tile(client_alice.get("/api/live?queue=q-sales").json(), SALES)["today"]
    # 6 / 120 = 5.0 %; 99 / 114 = 86.84 %; goal 80 % in 20 s.
    assert (today["offered"], today["answered"]) == ("120", "108")
    assert today["abandon_pct"] == "5.0 %"
    assert today["service_level_pct"] == "86.8 %"
    assert today["target_text"] == "target 80 % in 20 s"


def test_a_tile_turns_red_when_the_longest_wait_passes_twice_the_sl_threshold(
    client_alice, org, enqueued
):
    now = time.time()
    client_alice.get("/api/live?queue=q-sales")
    org[SALES].update(waiting=1, since=_iso(now - 25))  # over the 20 s threshold
    _poll(now)
    tile = _tile(client_alice.get("/api/live?queue=q-sales").json(), SALES)
    assert tile["level"] == "amber" and tile["reasons"] == ["Longest wait over 0:20"]
    org[SALES].update(since=_iso(now - 45))  # over 40 s
    _poll(now + 10)
    body = client_alice.get("/api/live?queue=q-sales").json()
    assert _tile(body, SALES)["level"] == "red"
    assert "tile--red" in body["tiles_html"]


def test_staff_thresholds_change_the_colours(client_alice, org, enqueued):
    now = time.time()
    LiveThreshold.objects.create(
        queue_id=SALES, longest_wait_amber_seconds=60, longest_wait_red_seconds=120,
        no_idle_agent_level="amber",
    )  # fmt: skip
    client_alice.get("/api/live?queue=q-sales")
    org[SALES].update(waiting=2, since=_iso(now - 45), idle=0)
    _poll(now)
    tile = _tile(client_alice.get("/api/live?queue=q-sales").json(), SALES)
    assert tile["level"] == "amber"
    assert tile["reasons"] == ["Calls waiting, no agent idle"]


def test_calls_waiting_with_no_agent_idle_and_sl_under_target_are_red(client_alice, org, enqueued):
    now = time.time()
    _today(SUPPORT, now=now, offered=50, answered=40, abandoned=8, sl=(30, 48))
    client_alice.get("/api/live?queue=q-support")
    org[SUPPORT].update(waiting=1, since=_iso(now - 2), idle=0)
    _poll(now)
    tile = _tile(client_alice.get("/api/live?queue=q-support").json(), SUPPORT)
    assert tile["level"] == "red"
    assert tile["reasons"] == ["SL under target (80 %)", "Calls waiting, no agent idle"]


def test_numbers_older_than_three_polls_are_marked_stopped(client_alice, org, enqueued, settings):
    settings.LIVE_POLL_SECONDS = 10
    client_alice.get("/api/live?queue=q-sales")
    then = time.time() - 31
    _poll(then)
    body = client_alice.get("/api/live?queue=q-sales").json()
    assert body["status"] == "stopped"
    assert body["message"].startswith(
        f"Live data stopped at {time.strftime('%H:%M', time.gmtime(then))}."
    )
    assert "tile--stale" in body["tiles_html"]


def test_redis_down_is_a_503_that_says_so(client_alice, redis_down):
    response = client_alice.get("/api/live")
    assert response.status_code == 503
    assert "Redis" in response.json()["error"]


def test_a_snapshot_is_drawn_once_per_web_process_and_thresholds_apply_at_the_next_poll(
    client_alice, org, enqueued, django_assert_num_queries
):
    now = time.time()
    client_alice.get("/api/live?queue=q-sales")
    org[SALES].update(waiting=1, since=_iso(now - 25), idle=3)
    _poll(now)
    assert _tile(client_alice.get("/api/live?queue=q-sales").json(), SALES)["level"] == "amber"
    LiveThreshold.objects.create(queue_id=SALES, longest_wait_amber_seconds=120)
    # The same snapshot: drawn already, so no threshold query (the session and user: Redis).
    with django_assert_num_queries(0):
        same = client_alice.get("/api/live?queue=q-sales").json()
    assert _tile(same, SALES)["level"] == "amber"
    _poll(now + 10)
    assert _tile(client_alice.get("/api/live?queue=q-sales").json(), SALES)["level"] == "ok"


def test_staff_set_thresholds_in_the_admin_and_a_red_under_amber_is_refused(db, monkeypatch):
    from django.contrib.auth.models import User
    from django.test import Client

    from analytics_worker import services

    monkeypatch.setattr(services, "queue_choices", lambda: [(SALES, "Sales")])
    client = Client()
    client.force_login(User.objects.create_superuser("root", email="root@example.com"))
    url = "/admin/dashboard/livethreshold/add/"
    fields = {"queue_id": SALES, "service_level_amber_points": "5", "no_idle_agent_level": "red"}
    refused = client.post(
        url, {**fields, "longest_wait_amber_seconds": "60", "longest_wait_red_seconds": "30"}
    )
    assert refused.status_code == 200
    assert "The red wait must be at least the amber wait." in refused.content.decode()
    assert not LiveThreshold.objects.exists()
    client.post(
        url, {**fields, "longest_wait_amber_seconds": "30", "longest_wait_red_seconds": "90"}
    )
    saved = LiveThreshold.objects.get()
    assert (saved.queue_id, saved.longest_wait_red_seconds) == (SALES, 90)
