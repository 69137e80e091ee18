"""Beat's reaper (periodic_tasks.reap_locks_task -> services.locks_reap): ghost locks, and the
fetches lost with a killed worker, restarted once and then failed with a message.

The drill tests/drills/test_worker_killed.py runs the same against real processes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import fakeredis
import pytest
import time_machine
from celery.utils.nodenames import gethostname

from analytics_worker import cache, periodic_tasks, services, sources, tasks
from analytics_worker.models import SavedReport
from analytics_worker.redis_client import lock_key, worker_heartbeat_key
from tests.analytics_worker.helpers import conversation
from tests.helpers import enqueued_jobs

pytestmark = pytest.mark.django_db

WORKER = "worker1@host"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def job_id(spec, enqueued) -> str:
    job_id = services.report_lookup(spec=spec).job_id
    assert job_id is not None
    return job_id


def worker_takes(job_id: str, worker: str = WORKER, **progress) -> None:
    """What report_job_run records as a worker starts the job and fetches its pages."""
    cache.job_update(job_id=job_id, state="fetching", pages=0, items=0, message="", worker=worker)
    if progress:
        cache.job_update(job_id=job_id, state="fetching", message="", **progress)


def heartbeat(fake_redis: fakeredis.FakeRedis, worker: str = WORKER) -> None:
    fake_redis.set(worker_heartbeat_key(worker), time.time(), ex=60)


def reap(*, after: float) -> int:
    """The reaper's minute tick, `after` seconds from now."""
    with time_machine.travel(time.time() + after, tick=False):
        return periodic_tasks.reap_locks_task.apply().get()


def stalled(settings) -> float:
    return settings.JOB_STALL_SECONDS + 1


def test_it_restarts_the_job_of_a_worker_that_died(spec, job_id, enqueued, settings) -> None:
    worker_takes(job_id, pages=2, items=400)
    assert reap(after=stalled(settings)) == 1
    # The same job, spec and id (the page keeps polling it), on the queue again, as attempt 2.
    assert enqueued_jobs(enqueued) == [(spec.key, job_id), (spec.key, job_id)]
    assert enqueued.call_args_list[1].kwargs["kwargs"] == {"spec": spec.to_dict(), "job_id": job_id}
    job = cache.job_get(job_id=job_id)
    assert job["state"] == "queued"
    assert job["attempt"] == "2"
    assert job["worker"] == ""
    assert job["pages"] == "0" and job["items"] == "0"
    assert float(job["requeued_at"]) > time.time()
    assert job["message"] == (
        "Its worker (worker1@host) stopped in the middle of the fetch: started it again."
    )
    # The lock stays with the job, for as long as the new attempt may run.
    assert cache.lock_holder(report_key=spec.key) == job_id


def test_it_hands_the_lock_to_the_new_attempt_for_a_whole_run(
    spec, job_id, settings, fake_redis
) -> None:
    # Nearly run out by the first attempt.
    fake_redis.expire(lock_key(spec.key), int(stalled(settings)) + 10)
    worker_takes(job_id)
    reap(after=stalled(settings))
    assert fake_redis.ttl(lock_key(spec.key)) > settings.CELERY_TASK_TIME_LIMIT


def test_it_fails_the_job_when_its_restart_dies_too(spec, job_id, enqueued, settings) -> None:
    saved = SavedReport.objects.create(name="warm", last_report_key=spec.key)
    worker_takes(job_id)
    reap(after=stalled(settings))
    with time_machine.travel(time.time() + stalled(settings), tick=False):
        worker_takes(job_id, worker="worker2@host", pages=1, items=200)
    assert reap(after=2 * stalled(settings) + 1) == 1
    assert enqueued.call_count == 2  # never a third attempt
    job = cache.job_get(job_id=job_id)
    assert job["state"] == "failed"
    message = (
        "The worker running this fetch (worker2@host) stopped in the middle of it, and so did "
        "the one before it: not trying again. A worker that dies mid-fetch was usually killed "
        "(out of memory, or a restart): check the Celery worker's log and memory limit, then "
        "reload the page to fetch the report again."
    )
    assert job["message"] == message
    assert cache.lock_holder(report_key=spec.key) is None  # the next request starts afresh
    assert cache.report_error_get(report_key=spec.key)["message"] == message
    saved.refresh_from_db()
    assert saved.last_error == message
    assert saved.consecutive_failures == 1


def test_it_leaves_a_job_whose_worker_is_alive(job_id, enqueued, settings, fake_redis) -> None:
    worker_takes(job_id)
    heartbeat(fake_redis)
    assert reap(after=stalled(settings)) == 0
    assert cache.job_get(job_id=job_id)["state"] == "fetching"
    assert enqueued.call_count == 1


def test_it_leaves_a_job_that_moved_recently(job_id, enqueued, settings) -> None:
    worker_takes(job_id)
    assert reap(after=settings.JOB_STALL_SECONDS - 1) == 0
    assert cache.job_get(job_id=job_id)["state"] == "fetching"


def test_it_waits_out_a_wait_the_job_announced(job_id, enqueued, settings) -> None:
    # A 429 with Retry-After: 100 is silence the job told us about.
    worker_takes(job_id)
    cache.job_update(job_id=job_id, state="waiting", wait_until=time.time() + 100)
    assert reap(after=100) == 0
    assert cache.job_get(job_id=job_id)["state"] == "waiting"
    assert reap(after=100 + stalled(settings)) == 1
    assert cache.job_get(job_id=job_id)["state"] == "queued"


def test_it_leaves_a_queued_job_to_the_page(job_id, enqueued, settings) -> None:
    # Nobody took it: the page says the worker may be down; restarting it would not help.
    assert reap(after=stalled(settings)) == 0
    assert cache.job_get(job_id=job_id)["state"] == "queued"


def test_a_job_that_moves_while_it_is_reaped_is_left_alone(
    job_id, enqueued, settings, monkeypatch
) -> None:
    worker_takes(job_id)
    real_heartbeats = services.heartbeats.worker_heartbeats

    def progress_meanwhile() -> dict[str, float]:
        # The worker was only slow: it reports a page between the reaper's read and its write.
        cache.job_update(job_id=job_id, state="fetching", pages=5, items=900)
        return real_heartbeats()

    monkeypatch.setattr(services.heartbeats, "worker_heartbeats", progress_meanwhile)
    assert reap(after=stalled(settings)) == 0
    assert cache.job_get(job_id=job_id)["state"] == "fetching"
    assert enqueued.call_count == 1


def test_a_task_queue_that_is_down_fails_the_job_and_the_sweep_goes_on(
    spec, job_id, enqueued, settings
) -> None:
    cache.lock_acquire(report_key="other", job_id="gone", ttl_seconds=600)
    worker_takes(job_id)
    enqueued.side_effect = OSError("connection refused")
    assert reap(after=stalled(settings)) == 2
    job = cache.job_get(job_id=job_id)
    assert job["state"] == "failed"
    assert job["message"].startswith("The task queue is unavailable")
    assert cache.lock_holder(report_key=spec.key) is None
    assert cache.lock_holder(report_key="other") is None


def test_the_fetch_task_records_its_worker(spec, job_id) -> None:
    seen = []

    def pages(**kwargs):
        seen.append(cache.job_get(job_id=job_id)["worker"])
        yield [conversation("2024-05-01T09:05:00.000Z")]

    with mock.patch.object(sources, "graphql_conversation_pages", side_effect=pages):
        result = tasks.fetch_report_task.apply(
            kwargs={"spec": spec.to_dict(), "job_id": job_id}
        ).get()
    assert result == "done"
    # The task's request names the worker (its node name, in a real worker; apply() runs here).
    assert seen == [gethostname()]


def test_a_stalled_job_is_one_silent_past_the_setting(settings) -> None:
    settings.JOB_STALL_SECONDS = 30
    now = 1_000_000.0
    job = {"state": "fetching", "updated_at": str(now - 31)}
    assert services.job_stalled_seconds(job=job, now=now) == pytest.approx(31)
    assert services.job_stalled_seconds(job={**job, "updated_at": str(now - 29)}, now=now) is None
    waiting = {**job, "state": "waiting", "wait_until": str(now - 10)}
    assert services.job_stalled_seconds(job=waiting, now=now) is None
    assert services.job_stalled_seconds(job={**job, "state": "queued"}, now=now) is None
    assert services.job_stalled_seconds(job={**job, "state": "done"}, now=now) is None


def test_the_reaper_is_on_beats_schedule(settings) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["reap-locks"]
    assert entry["task"] == "analytics_worker.reap_locks"
    assert entry["schedule"] == float(settings.REAPER_INTERVAL_SECONDS)


def test_it_restarts_and_fails_a_job_on_a_real_redis(spec, real_redis, enqueued, settings) -> None:
    # The compare-and-write and the lock's extension are Lua: run them on Redis itself too.
    job_id = services.report_lookup(spec=spec).job_id
    worker_takes(job_id)
    assert reap(after=stalled(settings)) == 1
    assert cache.job_get(job_id=job_id)["attempt"] == "2"
    assert real_redis.ttl(lock_key(spec.key)) > settings.CELERY_TASK_TIME_LIMIT
    with time_machine.travel(time.time() + stalled(settings), tick=False):
        worker_takes(job_id, worker="worker2@host")
    assert reap(after=2 * stalled(settings) + 1) == 1
    assert cache.job_get(job_id=job_id)["state"] == "failed"


def settings_in_a_process(**env: str) -> subprocess.CompletedProcess[str]:
    """config/settings.py loaded by a fresh process with only these variables set."""
    base = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    script = "from config import settings as s; print(s.JOB_STALL_SECONDS)"
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_stall_outlasts_one_genesys_request() -> None:
    assert settings_in_a_process().stdout.strip() == "40"
    # A longer request timeout moves the default with it...
    assert settings_in_a_process(GENESYS_HTTP_TIMEOUT="60").stdout.strip() == "70"
    # ...and a stall no longer than one request is refused at boot, saying why.
    done = settings_in_a_process(GENESYS_HTTP_TIMEOUT="30", JOB_STALL_SECONDS="30")
    assert done.returncode != 0
    assert (
        "JOB_STALL_SECONDS (30) must be longer than GENESYS_HTTP_TIMEOUT (30): one slow Genesys "
        "request would pass for a dead worker"
    ) in done.stderr
