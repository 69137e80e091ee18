"""The pipeline end to end: real Celery workers, real Redis, the simulated org over HTTP."""

from __future__ import annotations

import os
import shlex
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import redis

from analytics_worker import cache, redis_client, services
from analytics_worker.reports import ReportSpec
from config.celery import app as celery_app
from genesys_sim import state as sim_state
from genesys_sim.faults import parse_faults
from tests.harness import ROOT, Process, Processes, RedisServer, manage, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

DAY = ReportSpec(start=datetime(2024, 5, 1, tzinfo=UTC), end=datetime(2024, 5, 2, tzinfo=UTC))


@dataclass(frozen=True)
class RedisUrls:
    broker: str
    cache: str
    sim: str


@pytest.fixture
def redis_urls(tmp_path, monkeypatch) -> Iterator[RedisUrls]:
    """A redis-server of this test's own, for the broker, the report cache and the simulated
    org's counters: other test runs on the machine, which share the usual server's test DBs,
    can then neither take this test's tasks nor flush its jobs."""
    server = RedisServer(tmp_path)
    server.start()
    urls = RedisUrls(broker=f"{server.url}/0", cache=f"{server.url}/1", sim=f"{server.url}/2")
    monkeypatch.setattr(redis_client, "_client", redis.Redis.from_url(urls.cache))
    yield urls
    server.kill()


@pytest.fixture
def sim(live_server, settings, redis_urls) -> Iterator[str]:
    """The simulated org served by the live server, with its counters in a Redis DB of its own."""
    settings.GENESYS_SIM_REDIS_URL = redis_urls.sim
    url = f"{live_server.url}/sim"
    settings.GENESYS_API_URL = settings.GENESYS_LOGIN_URL = url
    settings.GENESYS_CLIENT_ID = settings.GENESYS_SIM_CLIENT_ID
    settings.GENESYS_CLIENT_SECRET = settings.GENESYS_SIM_CLIENT_SECRET
    previous = celery_app.conf.broker_url, celery_app.conf.broker_write_url
    # Both, and a new producer pool: the app may already hold one for the default broker (an
    # earlier test rendered a page that queued a task), and Celery 5.6 resolves
    # broker_write_url once, from the broker_url of that time.
    celery_app.conf.broker_url = celery_app.conf.broker_write_url = redis_urls.broker
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    yield url
    celery_app.conf.broker_url, celery_app.conf.broker_write_url = previous
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def start_worker(sim, redis_urls, tmp_path) -> Iterator[Callable[..., Process]]:
    env = {
        **os.environ,
        "SQLITE_PATH": str(tmp_path / "worker.sqlite3"),
        "CELERY_BROKER_URL": redis_urls.broker,
        "REPORT_CACHE_REDIS_URL": redis_urls.cache,
        "GENESYS_SIM_REDIS_URL": redis_urls.sim,
        "GENESYS_API_URL": sim,
        "GENESYS_LOGIN_URL": sim,
        "GENESYS_CLIENT_ID": "",
        "GENESYS_SIMULATOR": "true",
    }
    manage("migrate", "--noinput", "-v0", env=env)
    processes = Processes(tmp_path)

    def start(*, options: Sequence[str] | None = None, **extra_env: str) -> Process:
        """The harness's worker, or with `options` one of these options (its queues and
        concurrency), started and awaited the same way."""
        number = len(processes.started)
        name, node, run_env = f"worker{number}", f"test{number}@%h", {**env, **extra_env}
        if options is None:
            return processes.celery_worker(name, env=run_env, node=node)
        args = [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO"]
        args += ["--without-gossip", "--without-mingle", "-n", node, *options]
        process = processes.spawn(name, args, env=run_env)
        process.wait_for(
            lambda: " ready." in process.log_text(), what=f"{name} to start", timeout=60
        )
        return process

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


# --- who waits for whom: queues and priorities ---------------------------------------------------

RUNNING = ("fetching", "waiting")
# One page of the simulated org's conversations: a small fetch (the interactive queue).
HOUR = ReportSpec(
    start=datetime(2024, 5, 10, 8, tzinfo=UTC), end=datetime(2024, 5, 10, 9, tzinfo=UTC)
)


def day(number: int) -> ReportSpec:
    start = datetime(2024, 5, number, tzinfo=UTC)
    return ReportSpec(start=start, end=start + timedelta(days=1))


def procfile_worker_options(name: str) -> list[str]:
    """The options the Procfile starts its worker `name` with, but its node name (the tests
    name theirs, so two runs on one host never share one)."""
    lines = (ROOT / "Procfile").read_text().splitlines()
    args = shlex.split(next(line for line in lines if line.startswith(f"{name}:")).split(":", 1)[1])
    assert args[:4] == [".venv/bin/celery", "-A", "config", "worker"], args
    options = args[4:]
    if "-n" in options:
        del options[options.index("-n") : options.index("-n") + 2]
    return options


def test_a_worker_takes_small_interactive_fetches_first_and_beats_prefetch_last(
    start_worker, settings
):
    # Everything is queued before the worker starts, so only the order it takes them in counts:
    # first in, first out would run them as queued.
    settings.FETCH_INTERACTIVE_MAX_REQUESTS = 2
    prefetch = [services.report_job_ensure(spec=day(n), kind="prefetch") for n in (1, 2, 3)]
    long = services.report_lookup(spec=day(5)).job_id  # 4 pages: the default queue
    small = services.report_lookup(spec=HOUR).job_id  # 1 page: the interactive queue
    start_worker(options=["--queues", "interactive,celery", "--concurrency", "1"])
    jobs = {job_id: wait_for_job(job_id) for job_id in [*prefetch, long, small]}
    assert {job["state"] for job in jobs.values()} == {"done"}, jobs
    # One slot: each job ran after the one before it had finished.
    order = sorted(jobs, key=lambda job_id: float(jobs[job_id]["updated_at"]))
    assert order == [small, long, *prefetch]


def test_a_supervisors_miss_starts_while_prefetch_holds_every_other_slot(start_worker):
    # The Procfile's workers: one reads both queues, one the interactive queue only. Pages of
    # 100 make each prefetch 20 requests, paced under the shared 300 a minute: seconds long.
    start_worker(options=procfile_worker_options("worker"), GENESYS_PAGE_SIZE="100")
    start_worker(options=procfile_worker_options("interactive"), GENESYS_PAGE_SIZE="100")
    prefetch = [services.report_job_ensure(spec=day(n), kind="prefetch") for n in (1, 2, 3)]
    wait_until(
        lambda: (
            [cache.job_get(job_id=job_id)["state"] in RUNNING for job_id in prefetch]
            == [True, True, False]
        ),
        timeout=30,
        what="two prefetch fetches to fill the general worker, a third to wait",
    )
    small = services.report_lookup(spec=HOUR).job_id
    assert wait_for_job(small, timeout=30)["state"] == "done"
    states = [cache.job_get(job_id=job_id)["state"] for job_id in prefetch]
    assert states[0] in RUNNING and states[1] in RUNNING and states[2] == "queued", states
