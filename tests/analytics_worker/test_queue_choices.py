from __future__ import annotations

from unittest import mock

import orjson
import pytest

from analytics_worker import services, tasks
from analytics_worker.genesys import queues
from analytics_worker.redis_client import redis_key


@pytest.fixture
def refresh():
    with mock.patch.object(tasks.refresh_queues_task, "apply_async", autospec=True) as apply:
        yield apply


def test_it_answers_from_the_cache(fake_redis, refresh):
    fake_redis.set(
        redis_key("queues", queues.client_fingerprint()), orjson.dumps([["q1", "Sales"]])
    )
    assert services.queue_choices() == [("q1", "Sales")]
    refresh.assert_not_called()


def test_a_cold_cache_asks_a_worker_once_and_never_waits(refresh):
    with mock.patch.object(queues, "queues_fetch", autospec=True) as fetch:
        assert services.queue_choices() == []
        assert services.queue_choices() == []
    fetch.assert_not_called()
    refresh.assert_called_once()


def test_a_dead_broker_does_not_break_the_form(refresh):
    refresh.side_effect = OSError("broker down")
    assert services.queue_choices() == []


def test_the_task_loads_and_caches_the_list():
    with mock.patch.object(
        queues, "queues_fetch", autospec=True, return_value=[("q1", "Sales", {})]
    ):
        assert tasks.refresh_queues_task.apply().get() == 1
    assert queues.queue_list_cached() == [("q1", "Sales")]


def test_redis_down_does_not_break_the_form(redis_down, refresh):
    # The cached list and the once-a-minute throttle both live in Redis: neither may raise.
    assert services.queue_choices() == []
    refresh.assert_not_called()
