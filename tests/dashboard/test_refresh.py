from __future__ import annotations

import re

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from analytics_worker import cache, services
from tests.dashboard.helpers import DAY_QUERY, put_report, spec_from_query
from tests.helpers import enqueued_jobs

pytestmark = pytest.mark.django_db

URL = "/refresh?" + DAY_QUERY + "&auto=5"


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_it_requires_login(client: Client) -> None:
    response = client.post(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_it_is_staff_only(client_alice: Client, enqueued) -> None:
    response = client_alice.post(URL)
    assert response.status_code == 403
    assert "Only staff can refresh reports." in response.content.decode()
    assert enqueued_jobs(enqueued) == []


def test_it_refuses_get(client_staff: Client) -> None:
    assert client_staff.get(URL).status_code == 405


def test_it_refetches_a_fresh_report_and_shows_it_refreshing(
    client_staff: Client, enqueued
) -> None:
    spec = spec_from_query(DAY_QUERY)
    put_report(spec)
    response = client_staff.post(URL)
    assert response.status_code == 302
    # Back to the same page, page-only parameters included.
    assert response["Location"] == "/?" + DAY_QUERY + "&auto=5"
    assert len(enqueued_jobs(enqueued)) == 1
    assert messages_of(response) == ["Refreshing this report from the source."]
    # The page now serves the old data as stale, following the refresh job.
    html = client_staff.get(response["Location"]).content.decode()
    assert re.search(r'"state": "stale"', html)
    assert f'"jobId": "{enqueued_jobs(enqueued)[0][1]}"' in html


def test_it_joins_a_fetch_already_running(client_staff: Client, enqueued) -> None:
    spec = spec_from_query(DAY_QUERY)
    running = services.report_lookup(spec=spec).job_id
    client_staff.post(URL)
    assert [job_id for _, job_id in enqueued_jobs(enqueued)] == [running]
    assert cache.lock_holder(report_key=spec.key) == running


def test_it_has_a_cooldown_per_report(client_staff: Client, enqueued) -> None:
    put_report(spec_from_query(DAY_QUERY))
    client_staff.post(URL)
    cache.job_update(
        job_id=enqueued_jobs(enqueued)[0][1], state="done"
    )  # the first refresh finished
    response = client_staff.post(URL)
    assert response.status_code == 302
    assert "less than 30 s ago" in messages_of(response)[-1]
    assert len(enqueued_jobs(enqueued)) == 1


def test_it_enforces_csrf(staff, enqueued) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    assert client.post(URL).status_code == 403
    assert enqueued_jobs(enqueued) == []
    # With the token from the page's form, the same POST goes through.
    put_report(spec_from_query(DAY_QUERY))
    html = client.get("/?" + DAY_QUERY).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    assert client.post(URL, {"csrfmiddlewaretoken": token}).status_code == 302
    assert len(enqueued_jobs(enqueued)) == 1


def test_it_reports_a_cache_outage(client_staff: Client, redis_down) -> None:
    response = client_staff.post(URL)
    assert response.status_code == 302
    assert messages_of(response)[-1].startswith(
        "Not refreshed: The report cache (Redis) is unavailable"
    )


def test_it_reports_bad_filters(client_staff: Client, enqueued) -> None:
    response = client_staff.post("/refresh?granularity=PT2M")
    assert response.status_code == 302
    assert messages_of(response)[-1].startswith("Not refreshed: Buckets:")
    assert enqueued_jobs(enqueued) == []


def test_it_is_charged_to_the_staff_members_fetch_budget(
    client_staff: Client, enqueued, settings
) -> None:
    settings.DASHBOARD_FETCH_BUDGET_REQUESTS = 10
    settings.REPORT_CONVERSATIONS_PER_DAY = 2000
    put_report(spec_from_query(DAY_QUERY))
    # A week of details (141 requests) spends the whole budget for a while.
    week = "range=custom&start=2024-10-01&end=2024-10-07&tz=UTC&source=details"
    assert client_staff.get("/api/report?" + week).status_code == 202
    response = client_staff.post(URL)
    assert response.status_code == 302
    message = messages_of(response)[-1]
    assert message.startswith("Not refreshed: The reports you started recently")
    assert "can start in" in message
    assert len(enqueued_jobs(enqueued)) == 1
    # The page still serves the cached report as it was, not as refreshing.
    html = client_staff.get(response["Location"]).content.decode()
    assert '"state": "fresh"' in html


def test_it_counts_as_a_report_read(client_staff: Client, enqueued, settings) -> None:
    settings.DASHBOARD_REPORT_READS_PER_MINUTE = 1
    put_report(spec_from_query(DAY_QUERY))
    assert client_staff.get("/?" + DAY_QUERY).status_code == 200
    response = client_staff.post(URL)
    assert messages_of(response)[-1] == (
        "Not refreshed: more than 1 report requests in a minute; wait a minute, then try again."
    )
    assert enqueued_jobs(enqueued) == []
