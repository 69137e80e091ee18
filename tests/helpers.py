"""Helpers shared by the tests of every package (fixtures stay in conftest.py)."""

from __future__ import annotations

import os
from unittest import mock

from analytics_worker.reports import ReportSpec

# Integration tests use a real Redis on a DB number of their own, flushed before and after.
# TEST_REDIS_URL lets two checkouts run their suites side by side without flushing each other.
REAL_REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# The fake Genesys that `responses` answers (the `api` fixture).
FAKE_GENESYS_API = "http://genesys.test"
FAKE_GENESYS_TOKEN_URL = "http://login.genesys.test/oauth/token"


def enqueued_jobs(enqueued: mock.MagicMock) -> list[tuple[str, str]]:
    """(report key, job id) of each fetch handed to the `enqueued` fixture, in order."""
    return [
        (ReportSpec.from_dict(call.kwargs["kwargs"]["spec"]).key, call.kwargs["task_id"])
        for call in enqueued.call_args_list
    ]
