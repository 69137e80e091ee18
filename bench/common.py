"""What every bench shares: its result (tables and targets), medians, and table printing.

A bench is a function `run(ctx) -> BenchResult`. It measures its figures `ctx.runs` times, keeps
the median, and reports each figure beside the baseline measured in the same run, as a ratio.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


class BenchSkipped(Exception):
    """The bench cannot run here (a missing browser): reported, not a failure."""


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: Any) -> None:
        self.rows.append(list(cells))


@dataclass
class Target:
    """One line of the issue's targets: what it asks, what was measured, met or not."""

    bench: str
    text: str
    measured: str
    met: bool
    note: str = ""


@dataclass
class BenchResult:
    name: str
    tables: list[Table] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    # Raw figures for --json (and docs/PERFORMANCE.md).
    figures: dict[str, Any] = field(default_factory=dict)

    def target(self, text: str, measured: str, met: bool, note: str = "") -> None:
        self.targets.append(Target(self.name, text, measured, met, note))


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def medians(samples: Sequence[dict[str, float]]) -> dict[str, Any]:
    """Each key's median over the samples, and its values as `<key>_all`."""
    found: dict[str, Any] = {}
    for key in samples[0]:
        values = [sample[key] for sample in samples]
        found[key] = median(values)
        found[f"{key}_all"] = values
    return found


def repeat(runs: int, measure: Callable[[], dict[str, float]]) -> dict[str, Any]:
    """Call `measure` `runs` times: see medians()."""
    return medians([measure() for _ in range(runs)])


def ratio(ours: float, baseline: float) -> float:
    return ours / baseline if baseline else float("inf")


def fmt_ratio(value: float) -> str:
    if value != value:  # NaN
        return "n/a"
    if value >= 100:
        return f"{value:,.0f}x"
    if value >= 10:
        return f"{value:.1f}x"
    return f"{value:.2f}x"


def fmt_num(value: float, digits: int = 0) -> str:
    if value != value:
        return "n/a"
    return f"{value:,.{digits}f}"


def fmt_ms(seconds: float) -> str:
    if seconds != seconds:
        return "n/a"
    milliseconds = seconds * 1000
    if milliseconds >= 100:
        return f"{milliseconds:,.0f} ms"
    return f"{milliseconds:.1f} ms"


def fmt_mb(size_bytes: float) -> str:
    return f"{size_bytes / 2**20:,.0f} MB"


def table_text(table: Table) -> str:
    cells = [[str(cell) for cell in row] for row in table.rows]
    widths = [len(column) for column in table.columns]
    for row in cells:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) + " |"

    out = [f"### {table.title}", "", line(table.columns)]
    out.append("|" + "|".join("-" * (width + 2) for width in widths) + "|")
    out.extend(line(row) for row in cells)
    out.extend(f"\n{note}" for note in table.notes)
    return "\n".join(out)
