"""Bench 5, single flight: 50 concurrent cold requests for the same report.

Ours: 50 threads call services.report_lookup at once (what 50 web requests do); the Celery
enqueue (fetch_report_task.apply_async) is replaced by a thread running the task's body
(fetch.report_job_run), which fetches from the simulated org for real. Counted: enqueues, distinct
job ids handed out, and the org's own request count.
Baseline: 50 threads run the tutorial's getCachedOrFetch for the same report at once
(bench/baseline.py): every one of them misses and fetches.
The report: 1 day at 30 min through the graphql source (several pages a fetch).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import requests

from bench import stack
from bench.common import BenchResult, Table, fmt_num, fmt_ratio, ratio

NAME = "singleflight"
REQUESTERS = 50
PER_DAY = 2000


def run(st: stack.Stack) -> BenchResult:
    stack.server_start(st, per_day=PER_DAY)
    first, last = stack.past_days(1)
    spec = stack.report_spec(stack.report_params(first=first, last=last, source="graphql"))
    # A race shows up now and then, not every time: several rounds, and the worst one counts.
    rounds = [_ours(st, spec) for _ in range(st.runs)]
    ours = max(rounds, key=lambda found: (found["fetches"], found["errors"], found["requests"]))
    theirs = _baseline(st, spec)
    table = Table(
        f"5. {REQUESTERS} concurrent cold requests for one report (1 day at 30 min, graphql "
        f"source, {PER_DAY:,}/day); ours: the worst of {len(rounds)} rounds",
        [
            "design",
            "fetches",
            "job ids",
            "turned away",
            "upstream requests",
            "vs baseline",
            "seconds",
        ],
    )
    table.add(
        "ours",
        ours["fetches"],
        ours["job_ids"],
        ours["errors"],
        ours["requests"],
        fmt_ratio(ratio(ours["requests"], theirs["requests"])),
        fmt_num(ours["seconds"], 2),
    )
    table.add(
        "baseline",
        theirs["fetches"],
        "-",
        0,
        theirs["requests"],
        "1.00x",
        fmt_num(theirs["seconds"], 2),
    )
    table.notes.append(
        "upstream requests = the simulated org's own count; one fetch of this report is "
        f"{ours['requests_one_fetch']} requests (a lone fetch, measured first)."
    )
    table.notes.append(
        "fetches in each round: " + ", ".join(str(found["fetches"]) for found in rounds)
    )
    result = BenchResult(NAME, tables=[table], figures={"ours": rounds, "baseline": theirs})
    if ours["errors"]:
        table.notes.append(f"a requester was turned away: {ours['first_error']}")
    one = ours["fetches"] == 1 and ours["requests"] == ours["requests_one_fetch"]
    result.target(
        "exactly one upstream fetch",
        f"{ours['fetches']} fetch(es), {ours['requests']} requests",
        one and ours["job_ids"] == 1 and not ours["errors"],
    )
    return result


def _ours(st: stack.Stack, spec: Any) -> dict[str, Any]:
    from analytics_worker import cache, fetch, services
    from analytics_worker.tasks import fetch_report_task

    stack.redis_db("cache").flushdb()  # cold: no result, no lock, no token
    stack.sim_reset(st)
    fetch.report_fetch(spec=spec)  # a lone fetch, to know what one fetch costs
    one_fetch = stack.sim_stats(st)["requests"]

    stack.sim_reset(st)
    fetches: list[threading.Thread] = []
    job_ids: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()

    def apply_async(*, kwargs: dict[str, Any], **_options: Any) -> None:
        worker = threading.Thread(
            target=fetch.report_job_run,
            kwargs={"spec_data": kwargs["spec"], "job_id": kwargs["job_id"]},
        )
        with lock:
            fetches.append(worker)
        worker.start()

    barrier = threading.Barrier(REQUESTERS)

    def requester() -> None:
        barrier.wait()
        try:
            lookup = services.report_lookup(spec=spec)
        except Exception as exc:  # e.g. WorkerUnavailable: a requester turned away
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}")
            return
        with lock:
            job_ids.append(lookup.job_id or "")

    original = fetch_report_task.apply_async
    fetch_report_task.apply_async = apply_async  # type: ignore[method-assign]
    started = time.monotonic()
    try:
        threads = [threading.Thread(target=requester) for _ in range(REQUESTERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for worker in fetches:
            worker.join(timeout=120)
    finally:
        fetch_report_task.apply_async = original  # type: ignore[method-assign]
    seconds = time.monotonic() - started
    if cache.result_get(report_key=spec.key) is None:
        raise RuntimeError("the shared fetch stored no result")
    return {
        "fetches": len(fetches),
        "job_ids": len(set(job_ids)),
        "errors": len(errors),
        "first_error": errors[0] if errors else "",
        "requests": stack.sim_stats(st)["requests"],
        "requests_one_fetch": one_fetch,
        "seconds": seconds,
    }


def _baseline(st: stack.Stack, spec: Any) -> dict[str, Any]:
    from bench import baseline

    stack.redis_db("baseline").flushdb()
    stack.sim_reset(st)
    variables = baseline.build_analytics_query(
        view_id="all",
        start_date=spec.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        end_date=spec.end.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    key = baseline.cache_key(variables)
    fetches = 0
    lock = threading.Lock()
    barrier = threading.Barrier(REQUESTERS)

    def fetch() -> list[dict[str, Any]]:
        nonlocal fetches
        with lock:
            fetches += 1
        with requests.Session() as session:
            return baseline.fetch_paginated_graphql(session=session, variables=variables)

    def requester() -> None:
        barrier.wait()
        baseline.get_cached_or_fetch(key=key, fetch=fetch)

    started = time.monotonic()
    threads = [threading.Thread(target=requester) for _ in range(REQUESTERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "fetches": fetches,
        "requests": stack.sim_stats(st)["requests"],
        "seconds": time.monotonic() - started,
    }
