"""The worker and beat heartbeats (analytics_worker/heartbeats.py), read by /healthz and /metrics.

The receivers are connected by AnalyticsWorkerConfig.ready(): these tests send the Celery signals
without importing anything that would connect them another way.
"""

from __future__ import annotations

import gc
import time
from types import SimpleNamespace

import fakeredis
import pytest
from celery.signals import before_task_publish, worker_process_init

from analytics_worker import heartbeats
from analytics_worker.redis_client import worker_heartbeat_key


def test_a_worker_process_freezes_its_boot_heap() -> None:
    gc.unfreeze()
    try:
        worker_process_init.send(sender=None)
        # Everything alive at boot is out of the collector's reach, this test module included.
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()


def test_a_worker_writes_its_heartbeat_until_it_stops(
    fake_redis: fakeredis.FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(heartbeats, "connect", lambda url: fake_redis)
    worker = SimpleNamespace(hostname="w1@host")
    try:
        heartbeats.worker_heartbeat_start(sender=worker)
        key = worker_heartbeat_key("w1@host")
        deadline = time.monotonic() + 5
        while not fake_redis.exists(key):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert 0 < fake_redis.ttl(key) <= heartbeats.WORKER_HEARTBEAT_TTL_SECONDS
        assert set(heartbeats.worker_heartbeats()) == {"w1@host"}
        heartbeats.worker_heartbeat_stop(sender=worker)
        assert not fake_redis.exists(key)
    finally:
        heartbeats._heartbeat_stop.clear()


def test_beat_records_a_tick_when_it_publishes_the_minute_task(
    fake_redis: fakeredis.FakeRedis,
) -> None:
    before_task_publish.send(sender="analytics_worker.reap_locks", body={}, headers={})
    assert heartbeats.beat_last_tick() is None
    before_task_publish.send(sender=heartbeats.BEAT_TICK_TASK, body={}, headers={})
    tick = heartbeats.beat_last_tick()
    assert tick is not None and time.time() - tick < 5
