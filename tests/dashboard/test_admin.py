from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from analytics_worker import cache
from analytics_worker.models import SavedReport
from tests.helpers import enqueued_jobs

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_admin(db: None) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", email="root@example.com"))
    return client


@pytest.fixture
def saved_report(db: None) -> SavedReport:
    return SavedReport.objects.create(
        name="Test: last 24 h by 30 min", params={"range": "last_24h", "granularity": "PT30M"}
    )


def test_it_lists_saved_reports_with_their_health(client_admin: Client, saved_report) -> None:
    SavedReport.objects.filter(pk=saved_report.pk).update(
        last_error="Genesys rejected the client credentials (HTTP 401)", consecutive_failures=2
    )
    response = client_admin.get("/admin/analytics_worker/savedreport/")
    assert response.status_code == 200
    html = response.content.decode()
    for heading in ("Last success at", "Last error", "Next due at"):
        assert heading in html
    assert "Genesys rejected the client credentials (HTTP 401)" in html


def test_it_refreshes_now(client_admin: Client, saved_report, enqueued) -> None:
    response = client_admin.post(
        "/admin/analytics_worker/savedreport/",
        {"action": "refresh_now", "_selected_action": [saved_report.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "Refreshing 1 report(s): Test: last 24 h by 30 min." in response.content.decode()
    assert len(enqueued_jobs(enqueued)) == 1
    saved_report.refresh_from_db()
    assert saved_report.last_report_key == enqueued_jobs(enqueued)[0][0]
    assert cache.job_get(job_id=enqueued_jobs(enqueued)[0][1])["state"] == "queued"


def test_it_says_when_the_cache_is_down(client_admin: Client, saved_report, redis_down) -> None:
    response = client_admin.post(
        "/admin/analytics_worker/savedreport/",
        {"action": "refresh_now", "_selected_action": [saved_report.pk]},
        follow=True,
    )
    assert "Nothing refreshed: The report cache (Redis) is unavailable" in response.content.decode()
