from __future__ import annotations

from datetime import UTC, datetime

import pytest

from analytics_worker.reports import ReportSpec

DAY_START = datetime(2024, 5, 1, tzinfo=UTC)


@pytest.fixture
def spec() -> ReportSpec:
    return ReportSpec(start=DAY_START, end=datetime(2024, 5, 2, tzinfo=UTC))
