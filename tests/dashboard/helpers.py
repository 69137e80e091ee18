"""Helpers for the dashboard tests: report queries, cached payloads, page checks (fixtures stay
in conftest.py)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import fakeredis
import orjson
import pytest

from analytics_worker import cache, reports, timebuckets

# A past day whose report never depends on the clock: Chicago is on CDT (-05:00) all day.
DAY_QUERY = "range=custom&start=2024-11-02&end=2024-11-02&tz=America/Chicago&granularity=PT1H"
# The day DST ends in Chicago: 25 hours, 01:00 twice (-05:00, then -06:00).
DST_DAY_QUERY = "range=custom&start=2024-11-03&end=2024-11-03&tz=America/Chicago&granularity=PT1H"


def spec_from_query(query: str) -> reports.ReportSpec:
    params: dict[str, list[str]] = {}
    for part in query.split("&"):
        name, _, value = part.partition("=")
        params.setdefault(name, []).append(value)
    return reports.report_spec_build(params=params, now=datetime.now(UTC), default_time_zone="UTC")


def report_payload(
    spec: reports.ReportSpec, *, contact_centre: bool = False, conversations: int = 40
) -> dict[str, Any]:
    """A cached result shaped like services.report_fetch's, with plausible numbers: buckets
    on the report's local edges, starts/ends in its zone with their offset."""
    zone = spec.tz
    step = timedelta(minutes=spec.bucket_minutes)
    buckets = []
    start = spec.start
    index = 0
    while start < spec.end:
        if spec.granularity == "P1D":
            # The next local midnight: 23, 24 or 25 hours later.
            end = timebuckets.bucket_ceil(start + timedelta(minutes=1), tz=zone, minutes=1440)
        else:
            end = start + step
        count = conversations + (index * 7) % 23
        bucket: dict[str, Any] = {
            "start": start.astimezone(zone).isoformat(),
            "end": end.astimezone(zone).isoformat(),
            "conversations": count,
            "duration_sum": count * (240.0 + index % 5 * 12),
            "duration_count": count,
            "wait_sum": count * (18.0 + index % 4 * 3),
            "wait_count": count,
            "hold_sum": 35.0 * (count // 6),
            "hold_count": count // 6,
        }
        if contact_centre:
            # The aggregates source's shape: queue KPIs from Genesys metrics, no duration.
            answered = count - 3
            bucket.update(
                duration_sum=0.0,
                duration_count=0,
                offered=count,
                answered=answered,
                answer_sum=answered * 12.0,
                abandoned=3,
                short_abandoned=1,
                flowed_out=0,
                transferred=2,
                sl_numerator=answered - 4,
                sl_denominator=answered + 3,
                sl_target_sum=0.8 * (answered + 3),
                sl_target_weight=answered + 3,
                handle_sum=answered * 300.0,
                handle_count=answered,
                talk_sum=answered * 240.0,
                talk_count=answered,
                acw_sum=answered * 40.0,
                acw_count=answered,
            )
        buckets.append(bucket)
        start = end
        index += 1
    totals: dict[str, Any] = {}
    for bucket in buckets:
        for name, value in bucket.items():
            if name not in ("start", "end"):
                totals[name] = totals.get(name, 0) + value
    return {
        "key": spec.key,
        "spec": spec.to_dict(),
        "source": spec.source,
        "as_of": datetime.now(UTC).isoformat(timespec="seconds"),
        "buckets": buckets,
        "totals": totals,
        "fetch": {
            "pages": 3,
            "items": totals.get("conversations", 0),
            "requests": 4,
            "retries": 0,
            "rate_limited": 0,
            "seconds": 1.2,
        },
    }


def put_report(
    spec: reports.ReportSpec,
    *,
    fresh: bool = True,
    payload: Mapping[str, Any] | None = None,
    as_of: float | None = None,
    **payload_options: Any,
) -> bytes:
    """Store a result in (fake) Redis exactly as the worker does; returns the payload bytes."""
    data = orjson.dumps(payload or report_payload(spec, **payload_options))
    cache.result_put(
        report_key=spec.key,
        payload=data,
        as_of=as_of if as_of is not None else time.time() - 120,
        # fresh_until = as_of + fresh_seconds: 0 makes it stale at once, yet within its TTL.
        fresh_seconds=3600 if fresh else 0,
        ttl_seconds=4 * 3600,
    )
    return data


class _ScriptFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts.append(dict(attrs))


def assert_no_inline_script(html: str) -> None:
    """Every <script> loads a file, or is a json_script data block (never executed)."""
    finder = _ScriptFinder()
    finder.feed(html)
    for attrs in finder.scripts:
        assert attrs.get("src") or attrs.get("type") == "application/json", attrs
    assert " on" + "click=" not in html and "javascript:" not in html


def assert_csp(response: Any) -> None:
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy


class CommandLog:
    """The commands a FakeRedis is sent, by name, with their arguments: one batch a round trip,
    as the connection writes it (a command, a pipeline, a MULTI's commands without the MULTI
    and the EXEC), whichever redis-py call packed it."""

    def __init__(self, client: fakeredis.FakeRedis, monkeypatch: pytest.MonkeyPatch) -> None:
        self.batches: list[list[tuple[str, ...]]] = []
        pool = client.connection_pool
        connection_class = pool.connection_class
        send = connection_class.send_packed_command

        def logged(connection: Any, command: object, check_health: bool = True) -> object:
            # Only this client's (a thread may hold one from before the log began), not the
            # simulated org's.
            if connection in pool._in_use_connections or connection in pool._available_connections:
                packed = command if isinstance(command, bytes) else b"".join(command)  # type: ignore[arg-type]
                commands = _resp_commands(packed)
                self.batches.append([each for each in commands if each[0] not in ("MULTI", "EXEC")])
            return send(connection, command, check_health)  # type: ignore[arg-type]

        monkeypatch.setattr(connection_class, "send_packed_command", logged)

    def names(self) -> list[list[str]]:
        return [[command[0] for command in batch] for batch in self.batches]


def _resp_commands(packed: bytes) -> list[tuple[str, ...]]:
    """The commands in bytes written to Redis: RESP arrays of bulk strings, one a command."""
    commands, at = [], 0
    while at < len(packed):
        assert packed[at : at + 1] == b"*", packed[at : at + 20]
        end = packed.index(b"\r\n", at)
        count, at = int(packed[at + 1 : end]), end + 2
        args = []
        for _ in range(count):
            end = packed.index(b"\r\n", at)
            size, at = int(packed[at + 1 : end]), end + 2
            args.append(packed[at : at + size].decode(errors="replace"))
            at += size + 2
        commands.append(tuple(args))
    return commands
