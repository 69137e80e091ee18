"""Drill: Redis (broker and cache in one) dies in the middle of a fetch and comes back empty."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.drills.stack import DAY_QUERY, Stack
from tests.harness import RedisServer, wait_until

pytestmark = pytest.mark.drill

# Celery 5.7.0 closes the lost broker connection and then restores the unacknowledged task
# through it (consumer.on_connection_error_after_connected -> channel.close ->
# restore_unacked_once): AttributeError, "Unrecoverable error", the worker exits. Any fetch
# running when Redis goes away (acks_late) triggers it. 5.6.3 reconnects and passes this drill.


def test_the_web_degrades_then_everything_recovers_without_a_restart(
    stack: Stack, tmp_path: Path
) -> None:
    # A private server: the drill kills it, so it must never be the machine's Redis.
    server = RedisServer(tmp=tmp_path)
    server.start()
    stack.redis_url = server.url
    try:
        stack.start_sim()
        web = stack.start_web()
        worker = stack.start_worker()
        stack.sim_faults("slow:0.4x100")
        pending = stack.report()
        assert pending.status_code == 202, pending.text
        job_id = pending.json()["job_id"]
        wait_until(lambda: stack.job(job_id)["pages"] >= 1, timeout=30, what="the fetch to start")

        server.kill()

        # Meanwhile the page answers in degraded mode: fetched inline, and saying so.
        page = stack.get("/?" + DAY_QUERY)
        assert page.status_code == 200, page.text[-2000:]
        assert 'id="degraded-banner"' in page.text
        api = stack.report()
        assert api.status_code == 200, api.text
        assert api.json()["status"] == "degraded"
        assert len(api.json()["report"]["buckets"]) == 24
        health = stack.get("/healthz")
        assert health.status_code == 503
        checks = health.json()["checks"]
        assert checks["redis"].startswith("unavailable") and checks["broker"].startswith(
            "unavailable"
        )
        assert checks["database"] == "ok"
        time.sleep(2)  # down for a while: the worker's reconnection attempts fail meanwhile

        server.start()  # same port, empty: the queued task, locks and job status are gone

        def served_fresh() -> bool:
            assert worker.alive(), "the worker exited instead of reconnecting"
            response = stack.report()
            return response.status_code == 200 and response.json()["status"] == "fresh"

        # The next read finds a miss, starts a new job, and the same worker runs it.
        wait_until(served_fresh, timeout=45, interval=0.5, what="a fresh report after the restart")
        page = stack.get("/?" + DAY_QUERY)
        assert page.status_code == 200
        assert 'id="degraded-banner"' not in page.text
        assert 'id="report"' in page.text and 'id="report" hidden' not in page.text
        # The worker's heartbeat came back by itself (it went with the data).
        wait_until(
            lambda: stack.get("/healthz").json()["checks"]["worker"] == "ok",
            timeout=15,
            interval=0.5,
            what="the worker's heartbeat",
        )
        # Recovered without a restart of their own.
        assert web.alive() and worker.alive()
        assert worker.log_text().count(" ready.") == 1
    finally:
        stack.stop_all()
        server.kill()
