"""Drill: Genesys (the simulated org's server) is down for a while, then comes back."""

from __future__ import annotations

import time
from typing import Any

import pytest

from analytics_worker.genesys.http import MAX_ATTEMPTS
from tests.drills.stack import DAY_QUERY, DeadGenesys, Stack
from tests.harness import wait_until

pytestmark = pytest.mark.drill

OUTAGE_SECONDS = 8
# A report is fresh for 2 s, so it is stale (served, with a refresh) during the outage.
SHORT_FRESHNESS = {"REPORT_HISTORICAL_FRESH_SECONDS": "2"}
# The pages below poll faster than the per-user read cap allows a person to.
MANY_READS = {"DASHBOARD_REPORT_READS_PER_MINUTE": "1000"}


def failed_jobs(stack: Stack, job_ids: set[str]) -> list[dict[str, Any]]:
    return [job for job in map(stack.job, job_ids) if job["state"] == "failed"]


def test_stale_data_is_served_during_an_outage_without_a_retry_storm(stack: Stack) -> None:
    sim = stack.start_sim()
    stack.start_web(**SHORT_FRESHNESS, **MANY_READS)
    # Backoff scaled to a fifth (waits of up to 6 s instead of 30 s): whole retry sequences fit
    # in the outage.
    stack.start_worker(DRILL_BACKOFF_SCALE="0.2", **SHORT_FRESHNESS)
    first = stack.report()
    assert first.status_code == 202
    assert stack.wait_for_job(first.json()["job_id"])["state"] == "done"
    as_of = stack.report().json()["as_of_epoch"]

    sim.stop()
    dead = DeadGenesys(stack.sim_port)
    try:
        time.sleep(2)  # past its freshness
        # Three supervisors' pages poll the stale report all through the outage, which lasts
        # until at least one refresh has given up.
        reads = 0
        jobs: set[str] = set()
        started = time.monotonic()
        while time.monotonic() - started < OUTAGE_SECONDS or not failed_jobs(stack, jobs):
            assert time.monotonic() - started < 30, "no refresh gave up"
            for user in ("alice", "sam", "alice"):
                response = stack.report(username=user)
                reads += 1
                assert response.status_code == 200, response.text
                body = response.json()
                # The last good data, with its age, all along.
                assert body["status"] == "stale" and body["as_of_epoch"] == as_of
                if body["job_id"]:
                    jobs.add(body["job_id"])
            time.sleep(0.3)
        attempts = dead.connections

        # The status says why: the failed refresh names the unreachable Genesys.
        failed = failed_jobs(stack, jobs)
        assert "Could not reach Genesys" in failed[0]["message"]
        page = stack.get("/?" + DAY_QUERY)
        assert page.status_code == 200
        assert "The last refresh failed at" in page.text and "Could not reach Genesys" in page.text
        assert "as of <time" in page.text
    finally:
        dead.close()

    # No retry storm: one refresh at a time however many pages ask, each giving up after its
    # attempts; never one fetch per read.
    assert 0 < attempts <= MAX_ATTEMPTS * len(jobs), (attempts, len(jobs))
    assert attempts <= reads / 2, (attempts, reads)

    stack.start_sim()

    def refreshed() -> bool:
        response = stack.report()
        assert response.status_code == 200, response.text
        body = response.json()
        return body["status"] == "fresh" and body["as_of_epoch"] > as_of

    # Genesys is back: the refresh running (or the next one a read starts) succeeds.
    wait_until(refreshed, timeout=20, interval=0.5, what="a successful refresh")
    page = stack.get("/?" + DAY_QUERY)
    assert "The last refresh failed at" not in page.text
