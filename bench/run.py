"""`python -m bench [--quick] [--runs N] [--json PATH] [names...]`: run the benches, print one
table per bench and a summary of the targets, met or missed.

The full suite takes about 23 minutes on 2 cores; --quick runs each bench once at a small size
in under 2 minutes, for CI: it fails only if a bench crashes, never on a figure. Without
--strict, neither mode fails on a missed target: the summary says which.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from bench import (
    bench_breakdown,
    bench_browser,
    bench_cached,
    bench_cold,
    bench_contention,
    bench_live,
    bench_memory,
    bench_normalise,
    bench_polling,
    bench_singleflight,
    stack,
)
from bench.common import BenchResult, BenchSkipped, Target, table_text

# In the order they run: no server first, then the server at 2,000/day, then both volumes.
BENCHES: dict[str, Callable[[stack.Stack], BenchResult]] = {
    bench_normalise.NAME: bench_normalise.run,
    bench_memory.NAME: bench_memory.run,
    bench_singleflight.NAME: bench_singleflight.run,
    bench_browser.NAME: bench_browser.run,
    bench_cold.NAME: bench_cold.run,
    bench_polling.NAME: bench_polling.run,
    bench_contention.NAME: bench_contention.run,
    bench_cached.NAME: bench_cached.run,
    bench_breakdown.NAME: bench_breakdown.run,
    bench_live.NAME: bench_live.run,
}
ISSUE_ORDER = (
    "cached",
    "polling",
    "contention",
    "cold",
    "memory",
    "normalise",
    "singleflight",
    "browser",
    "breakdown",
    "live",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "names", nargs="*", help=f"benches to run (default all): {', '.join(BENCHES)}"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, one run (CI)")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--json", help="also write every figure to this file")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    unknown = set(args.names) - set(BENCHES)
    if unknown:
        parser.error(
            f"unknown bench {', '.join(sorted(unknown))}; choose from {', '.join(BENCHES)}"
        )
    names = [name for name in BENCHES if not args.names or name in args.names]
    runs = 1 if args.quick else args.runs

    started = time.monotonic()
    print(_machine_line(args))
    st = stack.stack_open(quick=args.quick, runs=runs)
    results: dict[str, BenchResult] = {}
    crashed: dict[str, str] = {}
    skipped: dict[str, str] = {}
    try:
        for name in names:
            bench_started = time.monotonic()
            load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
            print(f"\n== {name} (load average before: {load}) ...", flush=True)
            try:
                result = BENCHES[name](st)
                result.figures["load_average_before"] = load
                print("\n" + "\n\n".join(table_text(table) for table in result.tables))
                results[name] = result
            except BenchSkipped as exc:
                skipped[name] = str(exc)
                print(f"skipped: {exc}", flush=True)
                continue
            except Exception:
                crashed[name] = traceback.format_exc()
                print(crashed[name], file=sys.stderr, flush=True)
                continue
            print(f"\n({name}: {time.monotonic() - bench_started:.0f} s)", flush=True)
    finally:
        stack.stack_close(st)

    targets = [t for name in ISSUE_ORDER if name in results for t in results[name].targets]
    print("\n" + _summary(targets, crashed, skipped))
    print(f"\nTotal: {time.monotonic() - started:.0f} s")
    if args.json:
        _write_json(args.json, results, crashed, args)
    if crashed:
        return 1
    if args.strict and not all(target.met for target in targets):
        return 1
    return 0


def _machine_line(args: argparse.Namespace) -> str:
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    mode = "quick" if args.quick else f"full, {args.runs} runs a figure"
    return (
        f"bench {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {os.cpu_count()} cores, "
        f"{memory_gb:.0f} GB, Python {platform.python_version()}; {mode}"
    )


def _summary(targets: list[Target], crashed: dict[str, str], skipped: dict[str, str]) -> str:
    lines = ["## Targets", ""]
    width = max([len(t.text) + len(t.bench) + 3 for t in targets] + [10])
    for target in targets:
        mark = "met   " if target.met else "MISSED"
        label = f"[{target.bench}] {target.text}"
        lines.append(f"{mark}  {label.ljust(width)}  {target.measured}")
    for name in crashed:
        lines.append(f"CRASH   [{name}] see the traceback above")
    for name, reason in skipped.items():
        lines.append(f"SKIPPED [{name}] {reason}")
    met = sum(target.met for target in targets)
    lines.append(
        f"\n{met} of {len(targets)} targets met; {len(crashed)} benches crashed, "
        f"{len(skipped)} skipped."
    )
    return "\n".join(lines)


def _write_json(
    path: str, results: dict[str, BenchResult], crashed: dict[str, str], args: Any
) -> None:
    document = {
        "machine": _machine_line(args),
        "results": {
            name: {
                "figures": result.figures,
                "targets": [vars(target) for target in result.targets],
                "tables": [vars(table) for table in result.tables],
            }
            for name, result in results.items()
        },
        "crashed": crashed,
    }
    with open(path, "wb") as out:
        out.write(orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
