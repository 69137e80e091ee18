from __future__ import annotations

import time

import pytest

from analytics_worker import cache, services


def put_result(spec, *, fresh: bool) -> None:
    now = time.time()
    cache.result_put(
        report_key=spec.key,
        payload=b'{"buckets":[]}',
        as_of=now - 10,
        fresh_seconds=3600 if fresh else 1,
        ttl_seconds=600,
    )


def test_it_starts_one_job_on_a_miss(spec, enqueued):
    lookup = services.report_lookup(spec=spec)
    assert lookup.status == "pending"
    assert lookup.cached is None
    enqueued.assert_called_once()
    assert enqueued.call_args.kwargs["task_id"] == lookup.job_id
    assert enqueued.call_args.kwargs["kwargs"] == {"spec": spec.to_dict(), "job_id": lookup.job_id}
    assert cache.job_get(job_id=lookup.job_id)["state"] == "queued"
    assert cache.lock_holder(report_key=spec.key) == lookup.job_id


def test_it_joins_the_running_job(spec, enqueued):
    first = services.report_lookup(spec=spec)
    second = services.report_lookup(spec=spec)
    assert second.job_id == first.job_id
    assert enqueued.call_count == 1


def test_it_serves_a_fresh_result_without_a_job(spec, enqueued):
    put_result(spec, fresh=True)
    lookup = services.report_lookup(spec=spec)
    assert lookup.status == "fresh"
    assert lookup.cached.payload == b'{"buckets":[]}'
    assert lookup.job_id is None
    enqueued.assert_not_called()


def test_it_serves_a_stale_result_and_refreshes_it_once(spec, enqueued):
    put_result(spec, fresh=False)
    first = services.report_lookup(spec=spec)
    second = services.report_lookup(spec=spec)
    assert first.status == second.status == "stale"
    assert first.cached is not None
    assert first.job_id == second.job_id
    assert enqueued.call_count == 1


def test_a_forced_refresh_fetches_a_fresh_report(spec, enqueued):
    put_result(spec, fresh=True)
    lookup = services.report_lookup(spec=spec, force=True)
    assert lookup.status == "stale"
    assert lookup.job_id is not None
    enqueued.assert_called_once()


def test_a_forced_refresh_joins_a_running_job(spec, enqueued):
    running = services.report_lookup(spec=spec)
    forced = services.report_lookup(spec=spec, force=True)
    assert forced.job_id == running.job_id
    assert enqueued.call_count == 1


@pytest.mark.parametrize("state", ["done", "failed", None])
def test_it_replaces_a_lock_whose_job_ended_or_vanished(spec, enqueued, state):
    cache.lock_acquire(report_key=spec.key, job_id="ghost", ttl_seconds=600)
    if state is not None:
        cache.job_create(job_id="ghost", report_key=spec.key, spec=spec.to_dict())
        cache.job_update(job_id="ghost", state=state)
    lookup = services.report_lookup(spec=spec)
    assert lookup.job_id != "ghost"
    assert cache.lock_holder(report_key=spec.key) == lookup.job_id
    enqueued.assert_called_once()


def test_it_says_when_the_task_queue_is_down(spec, enqueued):
    enqueued.side_effect = OSError("connection refused")
    with pytest.raises(services.WorkerUnavailable, match="task queue is unavailable"):
        services.report_lookup(spec=spec)
    # Nothing sticks: the next request tries again instead of joining a dead job.
    assert cache.lock_holder(report_key=spec.key) is None
    enqueued.side_effect = None
    assert services.report_lookup(spec=spec).status == "pending"


def test_it_reaps_only_orphaned_locks(spec, enqueued):
    live = services.report_lookup(spec=spec).job_id
    cache.lock_acquire(report_key="other", job_id="gone", ttl_seconds=600)
    assert services.locks_reap() == 1
    assert cache.lock_holder(report_key=spec.key) == live
    assert cache.lock_holder(report_key="other") is None


def test_a_requester_arriving_just_after_the_lock_joins_the_new_job(spec, enqueued, monkeypatch):
    # The race bench 5 found: a second requester that finds the lock a moment after it is taken
    # must find its job too, not take the lock for an orphan and start a second fetch.
    real_acquire = cache.lock_acquire
    joined: list[str] = []

    def acquire_then_race(**kwargs):
        won = real_acquire(**kwargs)
        if won and not joined:
            joined.append("")  # only the first winner lets a rival in
            joined[0] = services.report_lookup(spec=spec).job_id
        return won

    monkeypatch.setattr(cache, "lock_acquire", acquire_then_race)
    first = services.report_lookup(spec=spec).job_id
    assert joined == [first]
    assert enqueued.call_count == 1
