"""Conversations of the simulated org, made in this process, exactly as its GraphQL contract
serves them (genesys_sim's own item builder), for benches that need more of them than a fetch
at 300 requests/minute could bring in the time a bench has.

The org is deterministic: a minute's conversations depend only on the seed, the volume and the
minute, so what is made here is what the server's /sim/ answers for the same window.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

PAGE_SIZE = 500


def sim_items(*, start: datetime, end: datetime, per_day: int) -> Iterator[dict[str, Any]]:
    """The GraphQL `Conversation` items starting in [start, end), in start order, of the org
    with `per_day` conversations a day (GENESYS_SIM_CONVERSATIONS_PER_DAY)."""
    from django.conf import settings

    from genesys_sim import graphql_api, org

    # The org's Python API reads the volume from settings; only benches change it here.
    settings.GENESYS_SIM_CONVERSATIONS_PER_DAY = per_day
    for conversation in org.iter_conversations(start=start, end=end):
        yield graphql_api._conversation_item(conversation)


def raw_list_json(*, start: datetime, end: datetime, per_day: int) -> tuple[bytes, int]:
    """The tutorial's cached value: the JSON array of every raw conversation of the window."""
    parts: list[bytes] = []
    count = 0
    for item in sim_items(start=start, end=end, per_day=per_day):
        parts.append(orjson.dumps(item))
        count += 1
    return b"[" + b",".join(parts) + b"]", count


def page_file_write(
    path: Path, *, start: datetime, end: datetime, per_day: int, limit: int
) -> None:
    """Write the first `limit` conversations of [start, end) as GraphQL answer bodies, one page
    of PAGE_SIZE per line, chained by pageToken like the real answers."""
    written = number = 0
    page: list[dict[str, Any]] = []
    with open(path, "wb") as out:
        for item in sim_items(start=start, end=end, per_day=per_day):
            page.append(item)
            written += 1
            if len(page) == PAGE_SIZE or written == limit:
                number += 1
                last = written == limit
                out.write(_page_body(page, number=number, last=last, total=limit) + b"\n")
                page = []
                if last:
                    return
    raise ValueError(f"only {written:,} conversations start in {start} .. {end}, not {limit:,}")


def _page_body(items: list[dict[str, Any]], *, number: int, last: bool, total: int) -> bytes:
    page = {
        "pageToken": None if last else f"page-{number + 1}",
        "pageSize": PAGE_SIZE,
        "totalCount": total,
        "items": items,
    }
    return orjson.dumps({"data": {"conversations": page}})


def page_file_read(path: Path) -> Iterator[bytes]:
    """The page bodies of a page file, one at a time."""
    with open(path, "rb") as pages:
        yield from pages


PAGE_FILE_PER_DAY = 50_000


def page_file(tmp: Path, *, conversations: int) -> tuple[Path, dict[str, str]]:
    """A page file of `conversations` at 50,000/day (made once per run), and the params of the
    report whose window holds them (source graphql, 30-minute buckets)."""
    from bench.stack import past_days, report_params

    # Arrivals are random: 15% more days than the average needs, and a whole day more.
    days = min(31, math.ceil(conversations / PAGE_FILE_PER_DAY * 1.15) + 1)
    first, last = past_days(days)
    params = report_params(first=first, last=last, source="graphql")
    path = tmp / f"pages-{conversations}.jsonl"
    if not path.exists():
        start = datetime(first.year, first.month, first.day, tzinfo=UTC)
        partial = path.with_suffix(".partial")
        page_file_write(
            partial,
            start=start,
            end=start + timedelta(days=days),
            per_day=PAGE_FILE_PER_DAY,
            limit=conversations,
        )
        partial.rename(path)
    return path, params
