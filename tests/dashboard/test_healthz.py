from __future__ import annotations

import pytest
from django.test import Client

from tests.dashboard.conftest import assert_csp

pytestmark = pytest.mark.django_db


def test_it_needs_no_login(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"redis": "ok"}}
    assert_csp(response)


def test_it_names_the_part_that_failed(client: Client, redis_down) -> None:
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "error",
        "checks": {"redis": "unavailable: ConnectionError"},
    }
