"""Helpers shared by the tests of every package (fixtures stay in conftest.py)."""

from __future__ import annotations

import os
from typing import Any
from unittest import mock

from django.http import HttpRequest, HttpResponseBase
from django.test.client import ClientHandler
from django.urls import NoReverseMatch

from analytics_worker.reports import ReportSpec
from dashboard.polled import PolledRoutes

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


class PolledClientHandler(ClientHandler):
    """The test client's handler, answering a GET of a polled URL as production's WSGI
    application does (dashboard.polled), so every test of those views tests what serves them."""

    polled: PolledRoutes | None = None

    def load_middleware(self, *args: Any, **kwargs: Any) -> None:
        super().load_middleware(*args, **kwargs)
        try:
            self.polled = PolledRoutes(self)
        except NoReverseMatch:  # a test's own URLconf, without the dashboard
            self.polled = None

    def get_response(self, request: HttpRequest) -> HttpResponseBase:
        response = self.polled.respond(request) if self.polled is not None else None
        if response is None:
            return super().get_response(request)
        response._resource_closers.append(request.close)  # as Django's get_response does
        return response
