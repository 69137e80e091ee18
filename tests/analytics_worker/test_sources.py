"""sources.py: the report layer's use of the Genesys client (goals, queue work)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from analytics_worker.genesys.auth import client_fingerprint
from analytics_worker.redis_client import queues_key
from analytics_worker.reports import ReportSpec
from analytics_worker.sources import queue_work, service_level_goal

DAY = dict(start=datetime(2024, 5, 1, tzinfo=UTC), end=datetime(2024, 5, 2, tzinfo=UTC))


def cache_queues(fake_redis, entries) -> None:
    fake_redis.set(queues_key(client_fingerprint()), orjson.dumps(entries))


def test_the_goal_is_named_only_when_every_queue_and_media_of_the_report_shares_it(fake_redis):
    cache_queues(
        fake_redis,
        [
            ["q1", "Sales", {"voice": [0.8, 20000], "email": [0.9, 14_400_000]}],
            ["q2", "Support", {"voice": [0.8, 20000]}],
        ],
    )
    voice = ReportSpec(**DAY, media_types=("voice",), source="aggregates")
    assert service_level_goal(voice) == {"percentage": 0.8, "duration_ms": 20000}
    # Sales's e-mail goal differs from its voice goal: no single threshold to name.
    assert service_level_goal(ReportSpec(**DAY, queue_ids=("q1",), source="aggregates")) is None
    # Support has no e-mail goal at all.
    email = ReportSpec(**DAY, media_types=("email",), source="aggregates")
    assert service_level_goal(email) is None


def test_no_goal_without_the_queue_list(fake_redis):
    assert service_level_goal(ReportSpec(**DAY, source="aggregates")) is None


def test_the_rest_sources_ask_for_queue_work_only():
    spec = ReportSpec(**DAY, media_types=("chat",), source="aggregates")
    filters = queue_work(spec)
    assert filters.queue_work_only and filters.media_types == ("chat",)
    assert [d.analytics for d in filters.required()] == ["queueId"]
    # Picked queues already are queue work: no extra predicate.
    assert queue_work(ReportSpec(**DAY, queue_ids=("q1",), source="aggregates")).required() == []
