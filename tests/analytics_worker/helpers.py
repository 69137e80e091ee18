"""Helpers for the analytics_worker tests (fixtures stay in conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import requests
from django.conf import settings

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


def raw_conversations(start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
    """The sim's details answers for [start, end), page by page, as plain dicts."""
    token = requests.post(
        f"{settings.GENESYS_LOGIN_URL}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(settings.GENESYS_CLIENT_ID, settings.GENESYS_CLIENT_SECRET),
        timeout=10,
    ).json()["access_token"]
    page = 1
    while True:
        body = requests.post(
            f"{settings.GENESYS_API_URL}/api/v2/analytics/conversations/details/query",
            json={
                "interval": f"{start:%Y-%m-%dT%H:%M:%S.000Z}/{end:%Y-%m-%dT%H:%M:%S.000Z}",
                "order": "asc",
                "orderBy": "conversationStart",
                "paging": {"pageSize": 100, "pageNumber": page},
            },
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        ).json()
        if not body.get("conversations"):
            return
        yield from body["conversations"]
        page += 1


def is_queue_work(conversation: dict[str, Any]) -> bool:
    return any(
        segment.get("queueId")
        for participant in conversation["participants"]
        for session in participant.get("sessions", [])
        for segment in session.get("segments", [])
    )
