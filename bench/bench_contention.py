"""Bench 10, contention: real Celery workers sharing one Genesys budget (issue 17's last rows).

Both parts run real `celery -A config worker` processes (bench/stack.py worker_start) against
the simulated org served by the bench's gunicorn under /sim/ at 2,000 conversations a day and
300 requests a minute, so what is measured is the product's shared rate limiter in Redis
(genesys/http.py `_slot_reserve`) between processes, as in production.

**A. A supervisor's cold report while beat prefetches saved reports.** The workers are
docker-compose.yml's: `worker` (queues interactive,celery, 2 pool processes) and
`interactive-worker` (interactive, 1). The supervisor's report is yesterday at 30 minutes
through the details source (21 requests: 20 pages of 100 conversations and the empty page that
ends the scan), asked for as the page asks: GET /api/report (202 and a job), GET /api/jobs/<id>
until it is done, GET /api/report again; time to chart is the first request to the report's
answer. The job is polled every 0.1 s rather than the page's 0.5 s, so the figure is the
server's, not the page's poll quantum. Contended: 50 saved reports (each one past day at 30
minutes through the GraphQL source, 4 requests, 200 in all: about 41 s of the budget, so they
are still fetching when the supervisor's report ends) are made due and beat's minute tick
(`analytics_worker.refresh_due_reports`, the message beat sends) is sent to the broker; a
worker runs it and queues 50 prefetch fetches. Once they hold both of `worker`'s slots and the
budget (10 requests sent), the supervisor asks. Idle: the same report with nothing else
running. Each round measures both, and the ratio is the round's own (median of the rounds).
Sending beat's tick rather than running beat saves a minute a round: beat's first tick comes
a minute after it starts.

**B. 3 workers fetching 30 distinct cold reports.** Three `worker`s as `docker compose up
--scale worker=3` runs them (interactive,celery, 2 pool processes each: 6 fetches at once). The
30 reports are 30 past days at 30 minutes through the details source, asked for at once through
services.report_lookup (what 30 page loads do, without the per-user budget, which 630 requests
would exceed): 21 requests each, 630 in all, so the run lasts about two minutes at 300/min and
the budget, not the fetches' own work, is what bounds it. Counted at the org: every request
and every 429 (its /sim/_stats, as bench "cold"), and the most requests in any 60 s (its
request counter sampled every 0.25 s). The rate-limit bound is requests / (300/60 s): no client
sends N requests faster without being answered 429.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import requests

from bench import stack
from bench.common import BenchResult, Table, fmt_num, fmt_ratio, median, ratio

NAME = "contention"
PER_DAY = 2000
BUDGET_PER_MINUTE = 300
SLOWDOWN_TARGET = 1.5
BOUND_TARGET = 1.2
JOB_POLL_SECONDS = 0.1
SAMPLE_SECONDS = 0.25
# Prefetch is under way (both of `worker`'s slots fetching, the budget in use) once the org has
# answered this many requests of it.
PREFETCH_UNDER_WAY_REQUESTS = 10
WAIT_SECONDS = 600


@dataclass(frozen=True)
class Sizes:
    saved_reports: int  # part A: saved reports beat prefetches
    supervisor_source: str
    reports: int  # part B: distinct cold reports
    reports_source: str


FULL = Sizes(saved_reports=50, supervisor_source="details", reports=30, reports_source="details")
# --quick: the same paths at a size that takes seconds (GraphQL: 4 requests a report).
QUICK = Sizes(saved_reports=8, supervisor_source="graphql", reports=6, reports_source="graphql")


def run(st: stack.Stack) -> BenchResult:
    sizes = QUICK if st.quick else FULL
    result = BenchResult(NAME)
    stack.server_start(st, per_day=PER_DAY)
    try:
        _prefetch_part(st, result, sizes)
        _workers_part(st, result, sizes)
    finally:
        stack.workers_stop(st)
    return result


# --- A: the supervisor's report while beat prefetches ----------------------------------------------


def _prefetch_part(st: stack.Stack, result: BenchResult, sizes: Sizes) -> None:
    stack.workers_stop(st)
    stack.worker_start(st, "worker", queues=("interactive", "celery"), concurrency=2)
    stack.worker_start(st, "interactive", queues=("interactive",), concurrency=1)
    first, last = stack.past_days(1)
    params = stack.report_params(first=first, last=last, source=sizes.supervisor_source)
    _saved_reports_create(count=sizes.saved_reports)
    rounds: list[dict[str, Any]] = []
    for _ in range(st.runs):
        idle = _supervisor_idle(st, params)
        busy = _supervisor_during_prefetch(st, params, saved_reports=sizes.saved_reports)
        rounds.append(
            {"idle": idle, "busy": busy, "ratio": ratio(busy["seconds"], idle["seconds"])}
        )
    slowdown = median([r["ratio"] for r in rounds])
    idle_s = median([r["idle"]["seconds"] for r in rounds])
    busy_s = median([r["busy"]["seconds"] for r in rounds])
    limited = sum(r["busy"]["rate_limited"] + r["idle"]["rate_limited"] for r in rounds)
    table = Table(
        f"10a. A supervisor's cold report (yesterday at 30 min, {sizes.supervisor_source}, "
        f"{PER_DAY:,}/day) while beat prefetches {sizes.saved_reports} due saved reports, "
        "vs an idle stack",
        ["round", "idle", "during prefetch", "ratio", "its requests", "prefetch done", "429s"],
    )
    for number, found in enumerate(rounds, 1):
        busy = found["busy"]
        table.add(
            number,
            f"{found['idle']['seconds']:.2f} s",
            f"{busy['seconds']:.2f} s",
            fmt_ratio(found["ratio"]),
            busy["requests"],
            f"{busy['prefetch_seconds']:.1f} s, {busy['prefetch_requests']} requests",
            found["idle"]["rate_limited"] + busy["rate_limited"],
        )
    table.add("median", f"{idle_s:.2f} s", f"{busy_s:.2f} s", fmt_ratio(slowdown), "", "", limited)
    table.notes.append(
        "time to chart: GET /api/report (202), GET /api/jobs/<id> every 0.1 s until done, GET "
        "/api/report (200). prefetch done: from beat's tick to the last saved report fetched; "
        "its requests include the supervisor's."
    )
    notes = sorted({found["busy"]["job_note"] for found in rounds})
    table.notes.append(f"the supervisor's job during prefetch: {'; '.join(notes)}")
    result.tables.append(table)
    result.figures["prefetch"] = {"rounds": rounds, "ratio": slowdown, "rate_limited": limited}
    result.target(
        "a cold report while beat prefetches, vs an idle stack: <= 1.5x",
        f"{fmt_ratio(slowdown)} ({busy_s:.2f} s vs {idle_s:.2f} s)",
        slowdown <= SLOWDOWN_TARGET,
    )


def _saved_reports_create(*, count: int) -> None:
    """`count` saved reports, each one past day (2 to count+1 days ago) through GraphQL; not due."""
    from django.utils import timezone

    from analytics_worker.models import SavedReport

    SavedReport.objects.all().delete()
    today = timezone.now().date()
    for number in range(count):
        day = today - timedelta(days=2 + number)
        SavedReport.objects.create(
            name=f"bench day {day}",
            params=stack.report_params(first=day, last=day, source="graphql"),
            refresh_seconds=86400,
            next_due_at=timezone.now() + timedelta(days=1),
        )


def _stack_cold(st: stack.Stack) -> None:
    """No cached result, job, lock, token or limiter state, and the org's counters at zero."""
    stack.redis_db("cache").flushdb()
    stack.sim_reset(st)


def _supervisor_idle(st: stack.Stack, params: dict[str, str]) -> dict[str, Any]:
    _stack_cold(st)
    with _RequestSampler() as sampler:
        found = _time_to_chart(st, params)
    found["rate_limited"] = sampler.rate_limited()
    return found


def _supervisor_during_prefetch(
    st: stack.Stack, params: dict[str, str], *, saved_reports: int
) -> dict[str, Any]:
    from django.utils import timezone

    from analytics_worker.models import SavedReport
    from analytics_worker.periodic_tasks import refresh_due_reports_task

    _stack_cold(st)
    SavedReport.objects.update(
        next_due_at=timezone.now() - timedelta(seconds=1),
        last_report_key="",
        last_success_at=None,
        last_error="",
        consecutive_failures=0,
    )
    with _RequestSampler() as sampler:
        ticked = time.monotonic()
        refresh_due_reports_task.apply_async()  # what beat sends every minute
        _wait(
            lambda: (
                SavedReport.objects.exclude(last_report_key="").count() == saved_reports
                and sampler.requests() >= PREFETCH_UNDER_WAY_REQUESTS
            ),
            what="the prefetch to get under way",
        )
        found = _time_to_chart(st, params)
        _wait(
            lambda: not SavedReport.objects.filter(last_success_at=None, last_error="").exists(),
            what="every saved report to be fetched",
        )
        found["prefetch_seconds"] = time.monotonic() - ticked
    failed = list(SavedReport.objects.exclude(last_error="").values_list("name", "last_error"))
    if failed:
        raise RuntimeError(f"{len(failed)} saved reports failed, the first: {failed[0]}")
    found["prefetch_requests"] = sampler.requests()
    found["rate_limited"] = sampler.rate_limited()
    return found


def _time_to_chart(st: stack.Stack, params: dict[str, str]) -> dict[str, Any]:
    """Ask for a cold report as the page does; seconds until its data is in hand, and the job."""
    url = f"{st.base_url}/api/report?{stack.query_string(params)}"
    with requests.Session() as session:
        session.headers["Cookie"] = st.cookie_header
        started = time.monotonic()
        asked = session.get(url, timeout=30)
        if asked.status_code != 202:
            raise RuntimeError(f"a cold report answered {asked.status_code}: {asked.text[:200]}")
        job_id = asked.json()["job_id"]
        job_url = f"{st.base_url}/api/jobs/{job_id}"
        deadline = started + WAIT_SECONDS
        while True:
            time.sleep(JOB_POLL_SECONDS)
            job = session.get(job_url, timeout=30).json()
            if job.get("state") == "done":
                break
            if job.get("state") == "failed" or time.monotonic() > deadline:
                raise RuntimeError(f"the supervisor's job ended {job}")
        answer = session.get(url, timeout=30)
        seconds = time.monotonic() - started
    if answer.status_code != 200 or answer.json()["status"] != "fresh":
        raise RuntimeError(f"the fetched report answered {answer.status_code}: {answer.text[:200]}")
    from analytics_worker import cache

    record = cache.job_get(job_id=job_id) or {}
    requests_made = int(record.get("requests") or 0)
    return {
        "seconds": seconds,
        "requests": requests_made,
        "job_note": f"{requests_made} requests on {record.get('worker', '?')}",
    }


# --- B: several workers, one budget -----------------------------------------------------------------


def _workers_part(st: stack.Stack, result: BenchResult, sizes: Sizes) -> None:
    from analytics_worker import cache, services

    stack.workers_stop(st)
    for number in range(1, 4):
        stack.worker_start(st, f"worker{number}", queues=("interactive", "celery"), concurrency=2)
    specs = []
    for days_ago in range(1, sizes.reports + 1):
        first, _ = stack.past_days(days_ago)
        params = stack.report_params(first=first, last=first, source=sizes.reports_source)
        specs.append(stack.report_spec(params))
    _stack_cold(st)
    with _RequestSampler() as sampler:
        started = time.monotonic()
        job_ids = [services.report_lookup(spec=spec).job_id for spec in specs]
        if None in job_ids or len(set(job_ids)) != len(specs):
            raise RuntimeError(f"expected {len(specs)} new fetches, got jobs {job_ids}")

        def states() -> list[str]:
            return [
                (cache.job_get(job_id=str(job_id)) or {}).get("state", "") for job_id in job_ids
            ]

        _wait(
            lambda: all(state in cache.TERMINAL_STATES for state in states()),
            what=f"the {len(specs)} fetches to end",
            interval=JOB_POLL_SECONDS,
        )
        wall = time.monotonic() - started
    ended = states()
    if ended.count("done") != len(specs):
        raise RuntimeError(f"fetches ended {ended}")
    stats = stack.sim_stats(st)
    total = stats["requests"]
    job_requests = sum(
        int((cache.job_get(job_id=str(job_id)) or {}).get("requests") or 0) for job_id in job_ids
    )
    if job_requests != total:
        raise RuntimeError(f"the org counted {total} requests, the fetches {job_requests}")
    limited = stats["by_status"].get("429", 0)
    busiest = sampler.most_in_window(60.0)
    bound = total / (BUDGET_PER_MINUTE / 60)
    over_bound = ratio(wall, bound)
    per_minute = total / wall * 60
    table = Table(
        f"10b. 3 workers (2 pool processes each) fetching {len(specs)} distinct cold reports "
        f"(one past day each at 30 min, {sizes.reports_source}, {PER_DAY:,}/day), simulated org "
        f"at {BUDGET_PER_MINUTE} requests/min",
        [
            "reports",
            "requests",
            "429s",
            "most in any 60 s",
            "mean per minute",
            "wall",
            "bound",
            "wall/bound",
        ],
    )
    table.add(
        len(specs),
        fmt_num(total),
        limited,
        fmt_num(busiest),
        fmt_num(per_minute, 1),
        f"{wall:.1f} s",
        f"{bound:.1f} s",
        fmt_ratio(over_bound),
    )
    table.notes.append(
        f"bound = requests / ({BUDGET_PER_MINUTE}/60 s). most in any 60 s: the org's request "
        f"counter sampled every {SAMPLE_SECONDS} s (windows of 60 to 60.25 s); the whole run when "
        "it is shorter than a minute. One run: the counts do not vary between runs."
    )
    result.tables.append(table)
    result.figures["workers"] = {
        "reports": len(specs),
        "requests": total,
        "rate_limited": limited,
        "most_in_60s": busiest,
        "per_minute": per_minute,
        "wall": wall,
        "bound": bound,
        "wall_over_bound": over_bound,
    }
    result.target(f"3 workers, {len(specs)} cold reports: zero 429s", str(limited), limited == 0)
    result.target(
        "3 workers: requests in any minute <= 300",
        f"{busiest:.0f}",
        busiest <= BUDGET_PER_MINUTE,
    )
    result.target(
        f"3 workers: wall within 1.2x of the rate-limit bound ({total} requests)",
        fmt_ratio(over_bound),
        over_bound <= BOUND_TARGET,
    )


# --- shared ---------------------------------------------------------------------------------------


@dataclass
class _RequestSampler:
    """The org's request and 429 counters, read from its Redis every SAMPLE_SECONDS in a thread
    (the counters of /sim/_stats, which every gunicorn worker serving /sim/ adds to)."""

    samples: list[tuple[float, int, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> _RequestSampler:
        self._sample()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self._sample()

    def _sample(self) -> None:
        from genesys_sim.state import STATS_KEY

        found = stack.redis_db("sim").hmget(STATS_KEY, ["requests", "status:429"])
        count, limited = (int(value or 0) for value in found)
        self.samples.append((time.monotonic(), count, limited))

    def requests(self) -> int:
        self._sample()
        return self.samples[-1][1] - self.samples[0][1]

    def rate_limited(self) -> int:
        return self.samples[-1][2] - self.samples[0][2]

    def most_in_window(self, seconds: float) -> int:
        """The most requests counted between a sample and the first one `seconds` or more after
        it (or the last, for a run shorter than that): never fewer than the truth."""
        most = 0
        end = 0
        for start_at, start_count, _ in self.samples:
            while end < len(self.samples) - 1 and self.samples[end][0] < start_at + seconds:
                end += 1
            most = max(most, self.samples[end][1] - start_count)
        return most


def _wait(check: Callable[[], bool], *, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {WAIT_SECONDS} s waiting for {what}")
        time.sleep(interval)
