"""/healthz and /metrics (dashboard/health.py); the heartbeats they read are tested in
tests/analytics_worker/test_heartbeats.py."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import fakeredis
import pytest
from django.contrib.auth.models import User
from django.db import DatabaseError
from django.test import Client
from django.utils import timezone

from analytics_worker import cache, redis_client
from analytics_worker.models import SavedReport
from analytics_worker.redis_client import beat_tick_key, worker_heartbeat_key
from dashboard import health

pytestmark = pytest.mark.django_db

ALL_OK = {"database": "ok", "redis": "ok", "broker": "ok", "worker": "ok", "beat": "ok"}


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> fakeredis.FakeRedis:
    """The broker's Redis, faked like the cache."""
    client = fakeredis.FakeRedis()
    monkeypatch.setattr(health, "_broker_redis", lambda url: client)
    return client


@pytest.fixture
def alive(fake_redis: fakeredis.FakeRedis, broker: fakeredis.FakeRedis) -> None:
    """A worker and beat that have just reported in."""
    fake_redis.set(worker_heartbeat_key("w1@host"), time.time(), ex=60)
    fake_redis.set(beat_tick_key(), time.time() - 30)


def test_it_needs_no_login_and_checks_every_part(client: Client, alive: None) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": ALL_OK}


def test_it_names_the_part_that_failed(client: Client, broker: Any, redis_down: None) -> None:
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "error",
        "checks": {
            **ALL_OK,
            "redis": "unavailable: ConnectionError",
            "worker": "unknown: Redis is unavailable",
            "beat": "unknown: Redis is unavailable",
        },
    }


def test_it_says_when_no_worker_has_reported(
    client: Client, alive: None, fake_redis: fakeredis.FakeRedis
) -> None:
    fake_redis.delete(worker_heartbeat_key("w1@host"))
    checks = client.get("/healthz").json()["checks"]
    assert checks == {**ALL_OK, "worker": "no worker heartbeat in the last 60 s"}


def test_it_says_when_beat_stopped_ticking(
    client: Client, alive: None, fake_redis: fakeredis.FakeRedis
) -> None:
    fake_redis.set(beat_tick_key(), time.time() - 600)
    assert client.get("/healthz").json()["checks"]["beat"] == "last tick 600 s ago"
    fake_redis.delete(beat_tick_key())
    assert client.get("/healthz").json()["checks"]["beat"] == "no tick recorded"


def test_it_says_when_the_broker_is_down(
    client: Client, alive: None, monkeypatch: pytest.MonkeyPatch, settings
) -> None:
    # A password in the URL: it must not reach the answer.
    settings.CELERY_BROKER_URL = "redis://:hunter2-secret@127.0.0.1:1/0"
    monkeypatch.setattr(health, "_broker_redis", health.connect)  # a real client: nothing listens
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "unavailable: ConnectionError"
    assert b"hunter2" not in response.content and b"redis://" not in response.content


def test_it_says_when_the_database_is_down(
    client: Client, alive: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_cursor() -> Any:
        raise DatabaseError("connection to server at 10.0.0.5 failed: password=...")

    monkeypatch.setattr(health.connection, "cursor", broken_cursor)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "unavailable: DatabaseError"
    assert b"10.0.0.5" not in response.content


def test_liveness_answers_while_the_rest_of_the_stack_is_down(
    client: Client, redis_down: None, monkeypatch: pytest.MonkeyPatch, django_assert_num_queries
) -> None:
    # A load balancer must keep a web that still serves pages: only this process is asked about.
    monkeypatch.setattr(health, "health_checks", lambda **_: pytest.fail("liveness ran a check"))
    with django_assert_num_queries(0):
        response = client.get("/healthz/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert client.head("/healthz/live").status_code == 200


def test_readiness_fails_when_only_the_worker_is_down(
    client: Client, alive: None, fake_redis: fakeredis.FakeRedis
) -> None:
    fake_redis.delete(worker_heartbeat_key("w1@host"))
    assert client.get("/healthz").status_code == 503
    assert client.get("/healthz/live").status_code == 200


def test_health_and_metrics_answer_head(client: Client, alive: None, settings) -> None:
    settings.METRICS_TOKEN = "scrape-token-0123456789"
    assert client.head("/healthz").status_code == 200
    scraper = {"Authorization": "Bearer scrape-token-0123456789"}
    response = client.head("/metrics", headers=scraper)
    assert response.status_code == 200 and response.content == b""


# --- /metrics -------------------------------------------------------------------------------------

SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? -?[0-9.e+-]+$')


def parse_exposition(text: str) -> dict[str, list[str]]:
    """Check the Prometheus text format line by line; return each family's samples."""
    families: dict[str, list[str]] = {}
    current = ""
    for line in text.rstrip("\n").split("\n"):
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            current, kind = line.split()[2:4]
            assert kind in ("counter", "gauge") and current not in families, line
            families[current] = []
            continue
        assert SAMPLE.match(line), line
        assert line.split("{")[0].split(" ")[0] == current, line
        families[current].append(line)
    return families


@pytest.fixture
def staff_client(db: None) -> Client:
    client = Client()
    client.force_login(User.objects.create_user("sam", is_staff=True))
    return client


def test_it_shows_queue_jobs_heartbeats_and_saved_reports(
    staff_client: Client,
    alive: None,
    broker: fakeredis.FakeRedis,
    fake_redis: fakeredis.FakeRedis,
) -> None:
    broker.rpush("celery", "t1", "t2")
    broker.hset("unacked", "tag", "t3")
    cache.job_create(job_id="j1", report_key="k1", spec={})
    cache.job_create(job_id="j2", report_key="k2", spec={})
    cache.job_update(job_id="j2", state="done")
    report = SavedReport.objects.create(
        name='Sales "today"\nnew', last_success_at=timezone.now() - timedelta(seconds=90)
    )
    response = staff_client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    families = parse_exposition(response.content.decode())
    assert 'gad_up{part="beat"} 1' in families["gad_up"]
    assert families["gad_job_queue_depth"] == ["gad_job_queue_depth 2"]
    assert families["gad_jobs_unacked"] == ["gad_jobs_unacked 1"]
    assert set(families["gad_jobs"]) == {'gad_jobs{state="done"} 1', 'gad_jobs{state="queued"} 1'}
    assert families["gad_worker_heartbeat_age_seconds"][0].startswith(
        'gad_worker_heartbeat_age_seconds{worker="w1@host"}'
    )
    ages = [
        line for line in families["gad_saved_report_last_success_age_seconds"] if "Sales" in line
    ]
    assert ages and ages[0].startswith(
        'gad_saved_report_last_success_age_seconds{report="Sales \\"today\\"\\nnew"} 9'
    )
    assert len(families["gad_saved_report_consecutive_failures"]) == SavedReport.objects.count()
    assert report.pk


def test_it_shows_the_shared_counters(
    staff_client: Client, alive: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    counters = {
        "gad_cache_lookups_total;outcome=fresh": 3.0,
        "gad_cache_lookups_total;outcome=miss": 1.0,
        "gad_upstream_requests_total;status=429": 2.0,
        "gad_fetch_seconds_total": 12.5,
    }
    monkeypatch.setattr(redis_client, "metrics_read", lambda: counters)
    families = parse_exposition(staff_client.get("/metrics").content.decode())
    assert families["gad_cache_lookups_total"] == [
        'gad_cache_lookups_total{outcome="fresh"} 3',
        'gad_cache_lookups_total{outcome="miss"} 1',
    ]
    assert families["gad_upstream_requests_total"] == [
        'gad_upstream_requests_total{status="429"} 2'
    ]
    assert families["gad_fetch_seconds_total"] == ["gad_fetch_seconds_total 12.5"]


def test_it_still_answers_with_redis_down(
    staff_client: Client, broker: Any, redis_down: None
) -> None:
    response = staff_client.get("/metrics")
    assert response.status_code == 200
    families = parse_exposition(response.content.decode())
    assert 'gad_up{part="redis"} 0' in families["gad_up"]
    assert "gad_jobs" not in families


def test_counters_written_by_any_process_show_up(staff_client: Client, alive: None) -> None:
    redis_client.metric_incr("gad_upstream_requests_total", status="429")
    redis_client.metric_incr("gad_upstream_requests_total", status="429")
    redis_client.metric_incr("gad_fetch_seconds_total", 1.25)
    families = parse_exposition(staff_client.get("/metrics").content.decode())
    assert families["gad_upstream_requests_total"] == [
        'gad_upstream_requests_total{status="429"} 2'
    ]
    assert families["gad_fetch_seconds_total"] == ["gad_fetch_seconds_total 1.25"]
