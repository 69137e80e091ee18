"""Drill: a worker is SIGKILLed in the middle of a fetch."""

from __future__ import annotations

import os
import signal
import sqlite3
from typing import Any

import pytest

from tests.drills.stack import DAY_QUERY, Stack
from tests.harness import Process, child_pids, wait_until

pytestmark = pytest.mark.drill

# Redis redelivers an unacknowledged task after the visibility timeout: 3 s here, 11 min in
# production (it must outlast the longest fetch).
FAST_REDELIVERY = {"CELERY_VISIBILITY_TIMEOUT": "3"}
# Beat's reaper, quick: a killed worker's heartbeat is gone after 3 s, a fetch silent for 6 s
# (above the drills' GENESYS_HTTP_TIMEOUT of 5 s) has stalled, and the sweep runs every second.
# Celery's own redelivery keeps its production delay (11 min): only the reaper brings the fetch
# back within the drill.
FAST_REAPER = {
    "WORKER_HEARTBEAT_TTL_SECONDS": "3",
    "JOB_STALL_SECONDS": "6",
    "REAPER_INTERVAL_SECONDS": "1",
}


def start_slow_fetch(stack: Stack, **env: str) -> str:
    """Start the stack and a fetch slow enough (0.4 s a page) to be killed in the middle."""
    stack.start_sim()
    stack.start_web(**env)
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


def start_reaper(stack: Stack) -> Process:
    """Beat, sweeping every second; the saved reports it would also warm are switched off, so
    the only fetch on the workers is the drill's."""
    with sqlite3.connect(stack.db_path) as conn:
        conn.execute("UPDATE analytics_worker_savedreport SET enabled = 0")
    return stack.start_beat(stack.tmp / "celerybeat-schedule", **FAST_REAPER)


def wait_for_attempt(stack: Stack, job_id: str, attempt: int, *, pages: int) -> dict[str, Any]:
    return wait_until(
        lambda: (
            (job := stack.job(job_id))["attempt"] == attempt
            and job["state"] == "fetching"
            and job["pages"] >= pages
            and job
        ),
        timeout=60,
        interval=0.2,
        what=f"attempt {attempt} of job {job_id} to fetch {pages} pages",
    )


def test_the_reaper_restarts_the_fetch_of_a_killed_worker(stack: Stack) -> None:
    first = stack.start_worker("worker1", **FAST_REAPER)
    job_id = start_slow_fetch(stack, **FAST_REAPER)

    first.kill()
    assert_nothing_half_written_is_served(stack, job_id)
    # The page says the fetch stalled once it has been silent for JOB_STALL_SECONDS, rather than
    # "Fetching" until the broker redelivers the task, 11 minutes later.
    job = wait_until(
        lambda: (job := stack.job(job_id))["stalled"] and job,
        timeout=30,
        interval=0.2,
        what="the page to call the fetch stalled",
    )
    assert job["progress"].startswith("Stalled: no progress for"), job
    assert "Stalled: no progress for" in stack.get("/?" + DAY_QUERY).text

    start_reaper(stack)
    second = stack.start_worker("worker2", **FAST_REAPER)
    job = wait_for_attempt(stack, job_id, 2, pages=1)
    assert job["progress"].startswith("Fetching again (restarted after its worker stopped)"), job
    assert_completed_once(stack, job_id)
    assert stack.job(job_id)["attempt"] == 2
    assert f"fetch lost report={job['report_key']} job={job_id} worker=worker1@" in stack.logs()
    assert f"analytics_worker.fetch_report[{job_id}] received" in second.log_text()


def test_the_reaper_fails_the_fetch_when_its_restart_is_killed_too(stack: Stack) -> None:
    first = stack.start_worker("worker1", **FAST_REAPER)
    job_id = start_slow_fetch(stack, **FAST_REAPER)
    first.kill()
    start_reaper(stack)
    second = stack.start_worker("worker2", **FAST_REAPER)
    wait_for_attempt(stack, job_id, 2, pages=2)

    second.kill()
    stack.start_worker("worker3", **FAST_REAPER)
    job = stack.wait_for_job(job_id, timeout=60)
    assert job["state"] == "failed", job
    assert (
        job["message"].startswith("The worker running this fetch (worker2@")
        and "and so did the one before it: not trying again" in job["message"]
    ), job
    assert "check the Celery worker's log" in job["progress"]
    # Nothing half-written, and the lock went with the job: the next request starts afresh.
    assert stack.cache().keys("*:result:*") == []
    assert stack.cache().keys("*:lock:*") == []
    response = stack.report()
    assert response.status_code == 202, response.text
    assert response.json()["job_id"] != job_id
