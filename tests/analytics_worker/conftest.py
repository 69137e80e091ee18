from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from unittest import mock

import pytest

from analytics_worker.reports import ReportSpec

DAY_START = datetime(2024, 5, 1, tzinfo=UTC)


@pytest.fixture
def spec() -> ReportSpec:
    return ReportSpec(start=DAY_START, end=datetime(2024, 5, 2, tzinfo=UTC))


def conversation(start: str, *, duration: float = 60.0, wait: float | None = 5.0) -> dict:
    return {
        "id": f"c-{start}",
        "type": "voice",
        "direction": "inbound",
        "startTime": start,
        "endTime": start,
        "metrics": {"duration": duration, "waitTime": wait, "holdTime": None},
        "participants": [{"id": "p1", "type": "customer"}],
    }


@pytest.fixture
def enqueued() -> Iterator[mock.MagicMock]:
    """Capture enqueued fetches instead of sending them to a broker."""
    from analytics_worker import tasks

    with mock.patch.object(tasks.fetch_report_task, "apply_async", autospec=True) as apply_async:
        yield apply_async
