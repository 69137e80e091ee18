"""Bench 4, normalisation throughput: conversations per second from raw page JSON (the GraphQL
answer bodies, as bytes) to buckets, on one core (one thread, no I/O), with the process's heap
frozen as a worker's is.

- ours: orjson.loads of each page, then BucketAccumulator.add_conversations of its items, as
  fetch.report_fetch does page after page; the result's buckets built at the end;
- baseline: orjson.loads of each page into one list, then the tutorial's
  normalizeAnalyticsData (bench/baseline.py).
"""

from __future__ import annotations

import gc
import time
from itertools import islice
from typing import Any

import orjson

from bench import bench_memory, stack
from bench.common import BenchResult, Table, fmt_num, fmt_ratio, ratio, repeat

NAME = "normalise"
CONVERSATIONS = 200_000
QUICK_CONVERSATIONS = 20_000
TARGET_PER_SECOND = 300_000


def run(st: stack.Stack) -> BenchResult:
    from analytics_worker import heartbeats
    from bench import data

    conversations = QUICK_CONVERSATIONS if st.quick else CONVERSATIONS
    # The first pages of bench 3's file (made once a run).
    path, params = data.page_file(st.tmp, conversations=bench_memory.file_conversations(st))
    spec = stack.report_spec(params)
    bodies = list(islice(data.page_file_read(path), conversations // data.PAGE_SIZE))
    runs = max(st.runs, 5) if not st.quick else 1
    # Like a Celery worker process after boot (heartbeats.worker_heap_freeze): the loaded heap
    # frozen, for both designs.
    heartbeats.worker_heap_freeze()
    try:
        found = {
            "ours": repeat(runs, lambda: _ours(spec, bodies, conversations)),
            "baseline": repeat(runs, lambda: _baseline(bodies, conversations)),
            "parse": repeat(runs, lambda: _parse_only(bodies, conversations)),
        }
    finally:
        gc.unfreeze()
    table = Table(
        f"4. Normalisation, raw page JSON to buckets, one thread: {conversations:,} "
        f"conversations in {len(bodies)} pages, median of {runs}",
        ["design", "conversations/s", "µs each", "vs baseline"],
    )
    labels = {"ours": "ours", "baseline": "baseline", "parse": "(orjson.loads alone)"}
    for mode, label in labels.items():
        rate = found[mode]["rate"]
        table.add(
            label,
            fmt_num(rate),
            f"{1e6 / rate:.2f}",
            fmt_ratio(ratio(rate, found["baseline"]["rate"])),
        )
    parse_share = (1 / found["parse"]["rate"]) / (1 / found["ours"]["rate"])
    table.notes.append(
        f"Both parse with orjson. Parsing alone is {parse_share:.0%} of ours's time per "
        "conversation; the accumulator the rest."
    )
    result = BenchResult(NAME, tables=[table], figures={"conversations": conversations, **found})
    rate = found["ours"]["rate"]
    result.target(
        ">= 300,000 conversations/s on one core", fmt_num(rate), rate >= TARGET_PER_SECOND
    )
    return result


def _ours(spec: Any, bodies: list[bytes], conversations: int) -> dict[str, float]:
    from analytics_worker.normalize import BucketAccumulator

    started = time.perf_counter()
    accumulator = BucketAccumulator(spec)
    for body in bodies:
        accumulator.add_conversations(orjson.loads(body)["data"]["conversations"]["items"])
    accumulator.result()
    seconds = time.perf_counter() - started
    if accumulator.items != conversations or accumulator.skipped:
        raise RuntimeError(f"ours counted {accumulator.items} ({accumulator.skipped} skipped)")
    return {"rate": conversations / seconds, "seconds": seconds}


def _parse_only(bodies: list[bytes], conversations: int) -> dict[str, float]:
    started = time.perf_counter()
    for body in bodies:
        orjson.loads(body)
    seconds = time.perf_counter() - started
    return {"rate": conversations / seconds, "seconds": seconds}


def _baseline(bodies: list[bytes], conversations: int) -> dict[str, float]:
    from bench import baseline

    started = time.perf_counter()
    all_items: list[dict[str, Any]] = []
    for body in bodies:
        all_items.extend(orjson.loads(body)["data"]["conversations"]["items"])
    chart_data = baseline.normalize_analytics_data(all_items, 30)
    seconds = time.perf_counter() - started
    counted = sum(bucket["callCount"] for bucket in chart_data)
    if counted != conversations:
        raise RuntimeError(f"the baseline counted {counted} of {conversations}")
    return {"rate": conversations / seconds, "seconds": seconds}
