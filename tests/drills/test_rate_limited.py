"""Drill: Genesys answers a run of 429s while two workers fetch two reports."""

from __future__ import annotations

import re
import threading
import time

import pytest

from analytics_worker.genesys.http import RATE_LIMIT_SAFETY
from tests.drills.stack import Stack
from tests.harness import wait_until

pytestmark = pytest.mark.drill

BUDGET_PER_MINUTE = 240
RETRY_AFTER_SECONDS = 2
QUERIES = [
    f"range=custom&start=2024-05-0{day}&end=2024-05-0{day}&tz=UTC&granularity=PT1H"
    for day in (1, 2)
]


class RequestTimeline:
    """Samples the simulated org's request counters every 50 ms: (time, requests, 429s)."""

    def __init__(self, stack: Stack) -> None:
        self.samples: list[tuple[float, int, int]] = []
        self._stack = stack
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            stats = self._stack.sim_stats()
            self.samples.append(
                (time.monotonic(), stats["requests"], stats["by_status"].get("429", 0))
            )
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def test_a_run_of_429s_never_pushes_requests_past_the_budget(stack: Stack) -> None:
    stack.start_sim(GENESYS_SIM_RATE_LIMIT_PER_MINUTE=str(BUDGET_PER_MINUTE))
    stack.start_web()
    for name in ("worker1", "worker2"):
        stack.start_worker(name, GENESYS_RATE_LIMIT_PER_MINUTE=str(BUDGET_PER_MINUTE))
    stack.sim_faults(f"429:{RETRY_AFTER_SECONDS}x4")
    timeline = RequestTimeline(stack)
    try:
        job_ids = [stack.report(query).json()["job_id"] for query in QUERIES]

        # The page of a waiting report says so, with the wait.
        def page_shows_the_wait() -> bool:
            page = stack.get("/?" + QUERIES[0])
            return "Genesys asked us to wait" in page.text

        wait_until(page_shows_the_wait, timeout=20, interval=0.2, what="the page to show the wait")
        jobs = [stack.wait_for_job(job_id, timeout=45) for job_id in job_ids]
    finally:
        timeline.stop()
    assert [job["state"] for job in jobs] == ["done", "done"], jobs

    stats = stack.sim_stats()
    # Only the four injected 429s: the org's own limit was never reached.
    assert stats["by_status"]["429"] == 4, stats
    assert stats["requests"] >= 20 + 4

    # Never more than the budget, at any time scale: n requests in any span of the run took at
    # least n - 1 of the limiter's slots (sampling adds one request of slack at each end).
    spacing = 60 / BUDGET_PER_MINUTE * RATE_LIMIT_SAFETY
    samples = timeline.samples
    for i, (start, before, _) in enumerate(samples):
        for end, after, _ in samples[i + 1 :]:
            assert after - before <= (end - start) / spacing + 3, (end - start, after - before)
    assert stats["requests"] <= BUDGET_PER_MINUTE

    # /metrics counted them, from the workers' processes.
    metrics = stack.get("/metrics", username="sam").text
    assert 'gad_upstream_requests_total{status="429"} 4' in metrics
    assert re.search(r'gad_upstream_requests_total\{status="200"\} (\d+)', metrics)

    # A 429 pauses every worker until its Retry-After: after the first one, silence.
    first_429 = next(at for at, _, rate_limited in samples if rate_limited)
    during = [n for at, n, _ in samples if first_429 + 0.3 <= at <= first_429 + 1.7]
    assert during and max(during) - min(during) == 0, during
