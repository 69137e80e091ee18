"""Helpers for the analytics_worker tests (fixtures stay in conftest.py)."""

from __future__ import annotations

from typing import Any

from analytics_worker.reports import ReportSpec


def conversation(
    start: object, *, duration: object = 60.0, wait: object = 5.0, hold: object = None
) -> dict:
    """A GraphQL contract Conversation (values may be anything, to test what is malformed)."""
    return {
        "id": f"c-{start}",
        "type": "voice",
        "direction": "inbound",
        "startTime": start,
        "endTime": start,
        "metrics": {"duration": duration, "waitTime": wait, "holdTime": hold},
        "participants": [{"id": "p1", "type": "customer"}],
    }


def query_args(spec: ReportSpec, *names: str) -> dict[str, Any]:
    """A report's interval and filters as the Genesys client takes them, plus the spec's
    attributes `names` (e.g. "granularity", "time_zone", "view_id")."""
    return {
        "start": spec.start,
        "end": spec.end,
        "filters": spec.filters,
        **{name: getattr(spec, name) for name in names},
    }
