from __future__ import annotations

import time

import pytest
import time_machine
from django.test import Client

from analytics_worker import cache, services
from analytics_worker.redis_client import worker_heartbeat_key
from tests.dashboard.helpers import DAY_QUERY, spec_from_query

pytestmark = pytest.mark.django_db


@pytest.fixture
def job_id(enqueued) -> str:
    return services.report_lookup(spec=spec_from_query(DAY_QUERY)).job_id


def test_it_requires_login(client: Client, job_id: str) -> None:
    response = client.get(f"/api/jobs/{job_id}")
    assert response.status_code == 401


def test_it_returns_a_queued_job_with_numbers(client_alice: Client, job_id: str) -> None:
    response = client_alice.get(f"/api/jobs/{job_id}")
    assert response.status_code == 200
    job = response.json()
    assert job["id"] == job_id
    assert job["state"] == "queued"
    assert job["pages"] == 0 and job["items"] == 0 and job["requests"] == 0
    assert isinstance(job["created_at"], float)
    assert job["spec"]["time_zone"] == "America/Chicago"
    assert job["report_key"] == spec_from_query(DAY_QUERY).key
    assert job["progress"] == "Queued: waiting for a worker to start the fetch…"
    assert job["stuck"] is False


def test_it_reports_fetch_progress(client_alice: Client, job_id: str) -> None:
    cache.job_update(job_id=job_id, state="fetching", pages=4, items=1800, requests=5)
    job = client_alice.get(f"/api/jobs/{job_id}").json()
    assert (job["pages"], job["items"], job["requests"]) == (4, 1800, 5)
    assert job["progress"] == "Fetching: 4 pages, 1,800 conversations so far."


def test_it_reports_a_rate_limit_wait(client_alice: Client, job_id: str) -> None:
    cache.job_update(
        job_id=job_id,
        state="waiting",
        pages=2,
        items=700,
        message="Genesys rate limit (429): waiting 30 s",
        wait_until=time.time() + 30,
    )
    job = client_alice.get(f"/api/jobs/{job_id}").json()
    assert job["state"] == "waiting"
    assert job["progress"].startswith("Genesys asked us to wait 3")
    assert job["message"] == "Genesys rate limit (429): waiting 30 s"
    assert job["wait_until"] > time.time()


def test_it_says_when_no_worker_took_the_job(client_alice: Client, job_id: str) -> None:
    cache.job_update(job_id=job_id, created_at=time.time() - 30)
    job = client_alice.get(f"/api/jobs/{job_id}").json()
    assert job["stuck"] is True
    assert "no worker has picked it up" in job["progress"]


def test_it_returns_a_failed_job_with_its_message(client_alice: Client, job_id: str) -> None:
    cache.job_update(job_id=job_id, state="failed", message="Genesys rejected the credentials.")
    job = client_alice.get(f"/api/jobs/{job_id}").json()
    assert job["state"] == "failed"
    assert job["progress"] == "The fetch failed: Genesys rejected the credentials."


def test_it_returns_404_for_an_unknown_job(client_alice: Client) -> None:
    response = client_alice.get("/api/jobs/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert "error" in response.json()


def test_it_returns_404_for_a_malformed_id(client_alice: Client) -> None:
    response = client_alice.get("/api/jobs/" + "x" * 65)
    assert response.status_code == 404
    assert response.json() == {"error": "No such job."}


def test_it_answers_503_when_redis_is_down(client_alice: Client, redis_down) -> None:
    response = client_alice.get("/api/jobs/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 503
    assert "Redis" in response.json()["error"]


def test_it_says_when_a_fetch_has_stalled(client_alice: Client, job_id: str, settings) -> None:
    # A killed worker leaves its job "fetching": the page must not say so for 11 minutes.
    cache.job_update(job_id=job_id, state="fetching", pages=3, items=900, worker="w1@host")
    with time_machine.travel(time.time() + settings.JOB_STALL_SECONDS + 5, tick=False):
        job = client_alice.get(f"/api/jobs/{job_id}").json()
    assert job["state"] == "fetching"
    assert job["stalled"] is True
    assert job["progress"] == (
        f"Stalled: no progress for {settings.JOB_STALL_SECONDS + 5} s (3 pages, 900 "
        "conversations so far). If its worker stopped, the fetch is started again within a "
        "minute or two."
    )


def test_a_wait_genesys_asked_for_is_not_a_stall(client_alice: Client, job_id: str, settings):
    cache.job_update(
        job_id=job_id, state="waiting", pages=2, items=700, wait_until=time.time() + 120
    )
    with time_machine.travel(time.time() + settings.JOB_STALL_SECONDS + 5, tick=False):
        job = client_alice.get(f"/api/jobs/{job_id}").json()
    assert job["stalled"] is False
    assert job["progress"].startswith("Genesys asked us to wait")


def test_it_says_when_a_fetch_was_restarted(client_alice: Client, job_id: str) -> None:
    # As the reaper leaves it (services.locks_reap), long after the job was first queued.
    cache.job_update(
        job_id=job_id,
        created_at=time.time() - 300,
        state="queued",
        attempt=2,
        requeued_at=time.time(),
        message="Its worker (w1@host) stopped in the middle of the fetch: started it again.",
    )
    job = client_alice.get(f"/api/jobs/{job_id}").json()
    assert job["attempt"] == 2
    assert job["stuck"] is False  # queued again just now, not 300 s ago
    assert job["progress"] == (
        "Restarted: the worker running this fetch stopped, so it was queued again; waiting for "
        "another worker…"
    )
    cache.job_update(job_id=job_id, state="fetching", pages=1, items=300, message="")
    job = client_alice.get(f"/api/jobs/{job_id}").json()
    assert job["progress"] == (
        "Fetching again (restarted after its worker stopped): 1 page, 300 conversations so far."
    )


def test_a_stalled_restart_says_it_will_not_be_tried_again(
    client_alice: Client, job_id: str, settings
) -> None:
    cache.job_update(job_id=job_id, state="fetching", attempt=2, pages=1, items=300)
    with time_machine.travel(time.time() + settings.JOB_STALL_SECONDS + 5, tick=False):
        job = client_alice.get(f"/api/jobs/{job_id}").json()
    assert job["progress"] == (
        f"Stalled: no progress for {settings.JOB_STALL_SECONDS + 5} s (1 page, 300 "
        "conversations so far). It was restarted once already: if its worker stopped again, it "
        "fails within a minute or two."
    )


def test_a_job_queued_behind_others_is_not_blamed_on_a_dead_worker(
    client_alice: Client, job_id: str, fake_redis
) -> None:
    # A worker is alive (its heartbeat is there), only busy with longer fetches or prefetch.
    fake_redis.set(worker_heartbeat_key("worker@host"), time.time(), ex=60)
    cache.job_update(job_id=job_id, created_at=time.time() - 30)
    job = client_alice.get(f"/api/jobs/{job_id}").json()
    assert job["stuck"] is True
    assert "behind other fetches" in job["progress"]
    assert "may be down" not in job["progress"]
