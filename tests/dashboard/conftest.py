from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from analytics_worker import fetch, reports
from tests.dashboard.helpers import report_payload


@pytest.fixture
def alice(db: None) -> User:
    # No password: tests log in with force_login, and hashing one costs 0.3 s per test.
    return User.objects.create_user("alice")


@pytest.fixture
def staff(db: None) -> User:
    return User.objects.create_user("sam", is_staff=True)


@pytest.fixture
def client_alice(alice: User) -> Client:
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def client_staff(staff: User) -> Client:
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def inline_fetch(monkeypatch: pytest.MonkeyPatch) -> Callable[..., list[reports.ReportSpec]]:
    """Make fetch.report_fetch (degraded mode) return a payload, or raise `error`."""

    def install(*, error: Exception | None = None) -> list[reports.ReportSpec]:
        calls: list[reports.ReportSpec] = []

        def fake_fetch(*, spec: reports.ReportSpec, deadline: float, **_: Any) -> dict[str, Any]:
            calls.append(spec)
            assert deadline > time.monotonic()
            if error is not None:
                raise error
            return report_payload(spec)

        monkeypatch.setattr(fetch, "report_fetch", fake_fetch)
        return calls

    return install
