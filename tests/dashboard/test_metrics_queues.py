"""/metrics' queue depth (dashboard/health.py _queue_lines) counts every queue and priority."""

from __future__ import annotations

import fakeredis
import pytest

from dashboard import health

SEP = "\x06\x16"  # kombu's Redis transport: a queue's priority lists are queue + SEP + step


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> fakeredis.FakeRedis:
    client = fakeredis.FakeRedis()
    monkeypatch.setattr(health, "_broker_redis", lambda url: client)
    return client


def test_it_counts_tasks_waiting_on_every_queue_at_every_priority(broker) -> None:
    broker.rpush("celery", "t1")  # priority 0
    broker.rpush(f"celery{SEP}6", "t2", "t3")  # beat's prefetch
    broker.rpush("interactive", "t4")  # a small fetch a person waits for
    broker.rpush(f"interactive{SEP}3", "t5")
    broker.rpush("someone-elses-list", "x")
    broker.hset("unacked", "tag", "t6")
    lines = health._queue_lines()
    assert "gad_job_queue_depth 5" in lines
    assert "gad_jobs_unacked 1" in lines
