"""Bench 3, peak memory: the worker process normalising 1,000,000 conversations streamed page by
page, against the tutorial's design, which collects every item before normalising.

Each side runs in a fresh child process (`python -m bench.bench_memory --child ...`) that loads
Django and the product like a Celery worker, then reads the GraphQL answer bodies of a page file
(bench/data.py; 500 conversations a page, as the simulated org serves them):
- ours: fetch.report_fetch with the graphql source, its HTTP call replaced by reading the
  next page, so the product's own paging loop and BucketAccumulator do the work;
- baseline: fetchPaginatedGraphQL's `allItems.push(...items)` for every page, then
  normalizeAnalyticsData and generateChartConfig (bench/baseline.py).
Peak RSS is the child's VmHWM (the kernel's high-water mark of its resident set).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

from bench import stack
from bench.common import BenchResult, Table, fmt_mb, fmt_num, fmt_ratio, ratio, repeat

NAME = "memory"
CONVERSATIONS = 1_000_000
QUICK_CONVERSATIONS = 20_000
TARGET_SHARE = 0.1
TARGET_BYTES = 150 * 2**20


def file_conversations(st: stack.Stack) -> int:
    return QUICK_CONVERSATIONS if st.quick else CONVERSATIONS


def run(st: stack.Stack) -> BenchResult:
    from bench import data

    conversations = file_conversations(st)
    path, params = data.page_file(st.tmp, conversations=conversations)
    result = BenchResult(NAME)
    found = {
        mode: repeat(st.runs, lambda mode=mode: _child(mode, path, params, conversations))
        for mode in ("ours", "baseline")
    }
    table = Table(
        f"3. Peak RSS of the worker process normalising {conversations:,} conversations "
        f"(50,000/day, {path.stat().st_size / 2**20:,.0f} MB of page JSON), median of {st.runs}",
        ["design", "peak RSS", "after imports", "growth", "vs baseline", "seconds"],
    )
    for mode in ("ours", "baseline"):
        item = found[mode]
        table.add(
            mode,
            fmt_mb(item["peak"]),
            fmt_mb(item["start"]),
            fmt_mb(item["peak"] - item["start"]),
            fmt_ratio(ratio(item["peak"], found["baseline"]["peak"])),
            fmt_num(item["seconds"], 1),
        )
    table.notes.append(
        "ours streams: page in, fold into buckets, page dropped; the baseline holds every item "
        "(and then a flattened copy of each) before the first bucket is made."
    )
    result.tables.append(table)
    result.figures = {"conversations": conversations, **found}
    share = ratio(found["ours"]["peak"], found["baseline"]["peak"])
    result.target("peak RSS <= 1/10 of the baseline", fmt_ratio(share), share <= TARGET_SHARE)
    result.target(
        "peak RSS under 150 MB", fmt_mb(found["ours"]["peak"]), found["ours"]["peak"] < TARGET_BYTES
    )
    return result


def _child(mode: str, path: Path, params: dict[str, str], conversations: int) -> dict[str, float]:
    command = [sys.executable, "-m", "bench.bench_memory", "--child", mode, str(path)]
    command += [orjson.dumps(params).decode()]
    done = subprocess.run(command, cwd=stack.ROOT, capture_output=True, text=True, check=True)
    found = orjson.loads(done.stdout.splitlines()[-1])
    if found["conversations"] != conversations:
        raise RuntimeError(f"{mode} counted {found['conversations']} of {conversations}")
    return {key: found[key] for key in ("peak", "start", "seconds")}


# --- the child process ----------------------------------------------------------------------------


def _rss(field: str) -> int:
    """A VmRSS / VmHWM line of /proc/self/status, in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _child_main(mode: str, path: Path, params: dict[str, str]) -> None:
    import time

    import django

    django.setup()
    from analytics_worker import fetch
    from analytics_worker.genesys import graphql
    from bench import baseline, data

    spec = stack.report_spec(params)
    start_rss = _rss("VmRSS")
    started = time.monotonic()
    pages = data.page_file_read(path)
    if mode == "ours":
        # The HTTP call (genesys_request) answers the next page body, parsed as it would be.
        def next_page(*args: Any, **kwargs: Any) -> Any:
            return orjson.loads(next(pages))

        graphql.genesys_request = next_page  # type: ignore[assignment]
        payload = fetch.report_fetch(spec=spec)
        conversations = payload["totals"]["conversations"]
    else:
        all_items: list[dict[str, Any]] = []
        for body in pages:
            all_items.extend(orjson.loads(body)["data"]["conversations"]["items"])
        chart_data = baseline.normalize_analytics_data(all_items, 30)
        baseline.generate_chart_config(chart_data, "Genesys Analytics Dashboard")
        conversations = sum(bucket["callCount"] for bucket in chart_data)
    seconds = time.monotonic() - started
    found = {
        "peak": _rss("VmHWM"),
        "start": start_rss,
        "seconds": seconds,
        "conversations": conversations,
    }
    sys.stdout.write(orjson.dumps(found).decode() + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", choices=("ours", "baseline"), required=True)
    parser.add_argument("path", type=Path)
    parser.add_argument("params")
    args = parser.parse_args()
    _child_main(args.child, args.path, orjson.loads(args.params))
