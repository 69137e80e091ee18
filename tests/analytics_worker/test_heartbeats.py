"""The worker and beat heartbeats (analytics_worker/heartbeats.py), read by /healthz and /metrics.

The receivers are connected by AnalyticsWorkerConfig.ready(): these tests send the Celery signals
without importing anything that would connect them another way.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import fakeredis
import pytest
import time_machine
from celery.signals import before_task_publish, worker_process_init

from analytics_worker import cache, heartbeats, services
from analytics_worker.redis_client import worker_heartbeat_key

ROOT = Path(__file__).resolve().parents[2]


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
        assert heartbeats.collection_down_since() is None
        heartbeats.worker_heartbeat_stop(sender=worker)
        assert not fake_redis.exists(key)
        # Gone, its last beat is remembered: pages say since when collection is down.
        since = heartbeats.collection_down_since()
        assert since is not None and time.time() - 10 < since <= time.time()
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


def test_the_heartbeat_ttl_is_a_setting() -> None:
    # Read once at import (/healthz names it), so a fresh process shows it; it beats six times
    # per TTL, at least once a second.
    script = (
        "import django; django.setup(); from analytics_worker import heartbeats as h; "
        "print(h.WORKER_HEARTBEAT_TTL_SECONDS, h.WORKER_HEARTBEAT_SECONDS)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    for ttl, expected in (("3", "3 1"), ("", "60 10")):
        done = subprocess.run(
            [sys.executable, "-c", script],
            env={**env, "WORKER_HEARTBEAT_TTL_SECONDS": ttl},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.stdout.split("\n")[-2] == expected, done.stderr


@pytest.mark.django_db
def test_a_worker_restarted_under_its_name_gives_up_the_jobs_it_ran_before(
    fake_redis: fakeredis.FakeRedis, monkeypatch: pytest.MonkeyPatch, spec, enqueued, settings
) -> None:
    # A container's restart policy brings a killed worker back under the same name before its
    # heartbeat expires: the jobs it was running are lost all the same.
    monkeypatch.setattr(heartbeats, "connect", lambda url: fake_redis)
    lost = services.report_lookup(spec=spec).job_id
    cache.job_update(job_id=lost, state="fetching", worker="w1@host")
    cache.lock_acquire(report_key="other", job_id="elsewhere", ttl_seconds=600)
    cache.job_create(job_id="elsewhere", report_key="other", spec=spec.to_dict())
    cache.job_update(job_id="elsewhere", state="fetching", worker="w2@host")
    fake_redis.set(worker_heartbeat_key("w2@host"), time.time(), ex=600)
    later = time.time() + 1
    try:
        with time_machine.travel(later, tick=False):
            heartbeats.worker_heartbeat_start(sender=SimpleNamespace(hostname="w1@host"))
    finally:
        heartbeats._heartbeat_stop.set()
    heartbeats._heartbeat_stop.clear()
    assert cache.job_get(job_id=lost)["worker"] == ""
    assert cache.job_get(job_id="elsewhere")["worker"] == "w2@host"
    # The reaper then restarts it, though w1@host beats again.
    with time_machine.travel(later + settings.JOB_STALL_SECONDS + 1, tick=False):
        fake_redis.set(worker_heartbeat_key("w1@host"), time.time(), ex=600)
        fake_redis.set(worker_heartbeat_key("w2@host"), time.time(), ex=600)
        assert services.locks_reap() == 1
    assert cache.job_get(job_id=lost)["state"] == "queued"
    assert cache.job_get(job_id="elsewhere")["state"] == "fetching"
