"""The pipeline end to end: real Celery workers, real Redis, the simulated org over HTTP."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import orjson
import pytest
import redis

from analytics_worker import cache, services
from analytics_worker.reports import ReportSpec
from config.celery import app as celery_app
from genesys_sim import state as sim_state
from genesys_sim.faults import parse_faults
from tests.harness import Process, Processes, manage

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

BROKER_URL = "redis://127.0.0.1:6379/14"
CACHE_URL = "redis://127.0.0.1:6379/15"
SIM_REDIS_URL = "redis://127.0.0.1:6379/13"
DAY = ReportSpec(start=datetime(2024, 5, 1, tzinfo=UTC), end=datetime(2024, 5, 2, tzinfo=UTC))


@pytest.fixture
def sim(live_server, settings, real_redis) -> Iterator[str]:
    """The simulated org served by the live server, with its counters in a Redis DB of its own."""
    sim_redis = redis.Redis.from_url(SIM_REDIS_URL)
    sim_redis.flushdb()
    redis.Redis.from_url(BROKER_URL).flushdb()
    settings.GENESYS_SIM_REDIS_URL = SIM_REDIS_URL
    url = f"{live_server.url}/sim"
    settings.GENESYS_API_URL = settings.GENESYS_LOGIN_URL = url
    settings.GENESYS_CLIENT_ID = settings.GENESYS_SIM_CLIENT_ID
    settings.GENESYS_CLIENT_SECRET = settings.GENESYS_SIM_CLIENT_SECRET
    previous = celery_app.conf.broker_url, celery_app.conf.broker_write_url
    # Both, and a new producer pool: the app may already hold one for the default broker (an
    # earlier test rendered a page that queued a task), and Celery 5.6 resolves
    # broker_write_url once, from the broker_url of that time.
    celery_app.conf.broker_url = celery_app.conf.broker_write_url = BROKER_URL
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    yield url
    celery_app.conf.broker_url, celery_app.conf.broker_write_url = previous
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    sim_redis.flushdb()
    redis.Redis.from_url(BROKER_URL).flushdb()


@pytest.fixture
def start_worker(sim, tmp_path) -> Iterator[Callable[..., Process]]:
    env = {
        **os.environ,
        "SQLITE_PATH": str(tmp_path / "worker.sqlite3"),
        "CELERY_BROKER_URL": BROKER_URL,
        "REPORT_CACHE_REDIS_URL": CACHE_URL,
        "GENESYS_SIM_REDIS_URL": SIM_REDIS_URL,
        "GENESYS_API_URL": sim,
        "GENESYS_LOGIN_URL": sim,
        "GENESYS_CLIENT_ID": "",
        "GENESYS_SIMULATOR": "true",
    }
    manage("migrate", "--noinput", "-v0", env=env)
    processes = Processes(tmp_path)

    def start(**extra_env: str) -> Process:
        number = len(processes.started)
        return processes.celery_worker(
            f"worker{number}", env={**env, **extra_env}, node=f"test{number}@%h"
        )

    yield start
    processes.stop_all()


def wait_for_job(job_id: str, *, timeout: float = 60) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = cache.job_get(job_id=job_id)
        if job is not None and job["state"] in cache.TERMINAL_STATES:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish: {cache.job_get(job_id=job_id)}")


def test_a_cold_report_is_fetched_by_the_worker_and_cached(start_worker):
    start_worker()
    lookup = services.report_lookup(spec=DAY)
    assert lookup.status == "pending"
    job = wait_for_job(lookup.job_id)
    assert job["state"] == "done", job
    report = orjson.loads(cache.result_get(report_key=DAY.key).payload)
    assert report["totals"]["conversations"] == report["fetch"]["items"] > 1000
    assert len(report["buckets"]) == 48
    assert services.report_lookup(spec=DAY).status == "fresh"


def test_concurrent_requests_for_a_cold_report_make_one_fetch(start_worker):
    start_worker()
    job_ids: list[str] = []

    def request() -> None:
        job_ids.append(services.report_lookup(spec=DAY).job_id)

    threads = [threading.Thread(target=request) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(job_ids)) == 1
    wait_for_job(job_ids[0])
    report = orjson.loads(cache.result_get(report_key=DAY.key).payload)
    # One fetch: exactly its own pages reached the simulated org, nothing more.
    stats = sim_state.stats_read()
    assert stats["requests"] == report["fetch"]["requests"] == report["fetch"]["pages"], stats


def test_two_workers_share_one_rate_limit_budget(start_worker, settings):
    limit = "240"  # per minute: 4 requests a second
    settings.GENESYS_SIM_RATE_LIMIT_PER_MINUTE = int(limit)
    start_worker(GENESYS_RATE_LIMIT_PER_MINUTE=limit, GENESYS_PAGE_SIZE="50")
    start_worker(GENESYS_RATE_LIMIT_PER_MINUTE=limit, GENESYS_PAGE_SIZE="50")
    specs = [
        ReportSpec(
            start=datetime(2024, 5, 1, 8, tzinfo=UTC), end=datetime(2024, 5, 1, 12, tzinfo=UTC)
        ),
        ReportSpec(
            start=datetime(2024, 5, 2, 8, tzinfo=UTC), end=datetime(2024, 5, 2, 12, tzinfo=UTC)
        ),
    ]
    started = time.monotonic()
    jobs = [services.report_lookup(spec=spec).job_id for spec in specs]
    for job_id in jobs:
        assert wait_for_job(job_id, timeout=90)["state"] == "done"
    elapsed = time.monotonic() - started
    stats = sim_state.stats_read()
    assert stats["by_status"].get("429", 0) == 0, stats
    requests = stats["requests"]
    assert requests >= 20
    # Together they stayed within the budget: n requests need at least (n - 1) spacings.
    assert elapsed >= (requests - 1) * 60 / int(limit) * 0.95


def test_a_worker_killed_mid_fetch_is_replaced_and_the_report_completes(start_worker, settings):
    # Every page is slow, so the first worker is surely mid-fetch when it is killed.
    first = start_worker(GENESYS_PAGE_SIZE="200", CELERY_VISIBILITY_TIMEOUT="3")
    sim_state.faults_replace(parse_faults("slow:0.5x40"))
    lookup = services.report_lookup(spec=DAY)
    deadline = time.monotonic() + 30
    while int((cache.job_get(job_id=lookup.job_id) or {}).get("pages", 0) or 0) < 1:
        assert time.monotonic() < deadline, "the fetch never started"
        time.sleep(0.1)
    first.kill()
    assert cache.job_get(job_id=lookup.job_id)["state"] != "done"
    start_worker(GENESYS_PAGE_SIZE="200", CELERY_VISIBILITY_TIMEOUT="3")
    job = wait_for_job(lookup.job_id, timeout=90)
    assert job["state"] == "done"
    assert cache.lock_holder(report_key=DAY.key) is None
    report = orjson.loads(cache.result_get(report_key=DAY.key).payload)
    assert report["totals"]["conversations"] > 1000
