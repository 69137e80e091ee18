"""Drill: a worker is SIGKILLed in the middle of a fetch."""

from __future__ import annotations

import os
import signal

import pytest

from tests.drills.stack import DAY_QUERY, Stack
from tests.harness import child_pids, wait_until

pytestmark = pytest.mark.drill

# Redis redelivers an unacknowledged task after the visibility timeout: 3 s here, 11 min in
# production (it must outlast the longest fetch).
FAST_REDELIVERY = {"CELERY_VISIBILITY_TIMEOUT": "3"}


def start_slow_fetch(stack: Stack) -> str:
    """Start the stack and a fetch slow enough (0.4 s a page) to be killed in the middle."""
    stack.start_sim()
    stack.start_web()
    stack.sim_faults("slow:0.4x100")
    response = stack.report()
    assert response.status_code == 202, response.text
    job_id = str(response.json()["job_id"])
    wait_until(lambda: stack.job(job_id)["pages"] >= 2, timeout=30, what="two pages fetched")
    return job_id


def assert_nothing_half_written_is_served(stack: Stack, job_id: str) -> None:
    for _ in range(3):
        response = stack.report()
        # Still a miss, joined to the same job: no second fetch, no partial buckets.
        assert response.status_code == 202, response.text
        assert response.json()["job_id"] == job_id
    assert stack.cache().keys("*:result:*") == []
    page = stack.get("/?" + DAY_QUERY)
    assert page.status_code == 200
    assert 'id="job-panel"' in page.text and "Loading this report" in page.text


def assert_completed_once(stack: Stack, job_id: str) -> None:
    job = stack.wait_for_job(job_id, timeout=40)
    assert job["state"] == "done", job
    report_key = job["report_key"]
    assert stack.logs().count(f"fetch done report={report_key}") == 1
    # The lock went with the job: the next refresh is not blocked by a ghost.
    assert stack.cache().keys("*:lock:*") == []
    response = stack.report()
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "fresh"
    report = body["report"]
    assert len(report["buckets"]) == 24
    assert report["totals"]["conversations"] == report["fetch"]["items"] > 1000


def test_it_redelivers_the_fetch_of_a_killed_worker_to_another(stack: Stack) -> None:
    first = stack.start_worker("worker1", **FAST_REDELIVERY)
    job_id = start_slow_fetch(stack)

    first.kill()
    assert_nothing_half_written_is_served(stack, job_id)

    second = stack.start_worker("worker2", **FAST_REDELIVERY)
    assert_completed_once(stack, job_id)
    assert f"analytics_worker.fetch_report[{job_id}] received" in second.log_text()


def test_it_reruns_the_fetch_when_only_the_pool_process_dies(stack: Stack) -> None:
    # The OOM killer's usual victim: the child running the task, not the worker's main process.
    # reject_on_worker_lost puts the message back at once; the same worker runs it again.
    worker = stack.start_worker("worker1")
    job_id = start_slow_fetch(stack)

    children = child_pids(worker.pid)
    assert len(children) == 2  # --concurrency 2
    for pid in children:
        os.kill(pid, signal.SIGKILL)

    assert_completed_once(stack, job_id)
    assert worker.alive()
    assert "WorkerLostError" in worker.log_text()
