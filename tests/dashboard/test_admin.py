from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from analytics_worker import cache, services
from analytics_worker.models import SavedReport
from tests.helpers import enqueued_jobs

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_queue_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    # The form asks for the queue names; a test must not ask a worker to load them.
    monkeypatch.setattr(services, "queue_choices", lambda: [])


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


CHANGE_FORM = {
    "name": "Morning voice",
    "enabled": "on",
    "refresh_seconds": "300",
    "next_due_at_0": "2024-05-01",
    "next_due_at_1": "12:00:00",
    "range": "today",
    "start": "",
    "end": "",
    "granularity": "PT1H",
    "tz": "",
    "type": ["voice", "chat"],
    "direction": "inbound",
    "queue": "q-1, q-2",
    "view": "all",
    "source": "",
}


def form_errors(response) -> dict[str, list[str]]:
    return {
        name: list(errors) for name, errors in response.context["adminform"].form.errors.items()
    }


def test_it_edits_the_filters_as_fields(client_admin: Client, saved_report) -> None:
    response = client_admin.get(f"/admin/analytics_worker/savedreport/{saved_report.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="params"' not in html  # no raw JSON to get wrong
    assert '<option value="last_24h" selected>Last 24 hours</option>' in html
    assert '<option value="PT30M" selected>30 min</option>' in html
    for name in ("start", "end", "tz", "type", "direction", "queue", "view", "source"):
        assert f'name="{name}"' in html, name
    assert 'value="voice"' in html and "Voice" in html


def test_it_saves_the_filters_as_query_string_values(client_admin: Client) -> None:
    response = client_admin.post("/admin/analytics_worker/savedreport/add/", CHANGE_FORM)
    assert response.status_code == 302, form_errors(response)
    report = SavedReport.objects.get(name="Morning voice")
    # Blank filters are left out: time zone and source then follow their settings.
    assert report.params == {
        "range": "today",
        "granularity": "PT1H",
        "type": ["voice", "chat"],
        "direction": "inbound",
        "queue": ["q-1", "q-2"],
        "view": "all",
    }
    assert report.refresh_seconds == 300


def test_a_saved_breakdown_is_prefetched_under_the_key_the_page_reads(client_admin: Client):
    from django.utils import timezone

    from analytics_worker import services

    response = client_admin.post(
        "/admin/analytics_worker/savedreport/add/",
        {**CHANGE_FORM, "group": "agent", "view": "", "direction": ""},
    )
    assert response.status_code == 302, form_errors(response)
    report = SavedReport.objects.get(name="Morning voice")
    assert report.params["group"] == "agent"
    spec = services.saved_report_spec(report, now=timezone.now())
    assert (spec.group, spec.source) == ("agent", "aggregates")


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("tz", "Mars/Olympus", "unknown time zone 'Mars/Olympus'; use an IANA name"),
        ("granularity", "PT7M", "'PT7M' is not allowed; choose one of PT15M, PT30M, PT1H, P1D"),
        ("range", "custom", "required for a custom range (YYYY-MM-DD or ISO 8601)"),
        ("view", "sales", "the aggregates source has no views; use 'all' or source=graphql"),
        ("queue", "not an id!", "'not an id!' is not a valid id"),
        ("group", "skill", "'skill' is not allowed; choose one of queue, media, direction, agent"),
    ],
)
def test_it_refuses_a_bad_filter_naming_its_field(
    client_admin: Client, settings, field, value, error
) -> None:
    settings.ANALYTICS_SOURCE = "aggregates"
    response = client_admin.post(
        "/admin/analytics_worker/savedreport/add/", {**CHANGE_FORM, field: value}
    )
    assert response.status_code == 200
    errors = form_errors(response)
    # A custom range without dates is the start's fault, as on the dashboard.
    assert errors == {"start" if field == "range" else field: [error]}
    assert not SavedReport.objects.filter(name="Morning voice").exists()


def test_it_shows_a_stored_bad_value_back_to_be_fixed(client_admin: Client) -> None:
    report = SavedReport.objects.create(name="Broken", params={"granularity": 30})
    url = f"/admin/analytics_worker/savedreport/{report.pk}/change/"
    html = client_admin.get(url).content.decode()
    assert '<option value="30" selected>30</option>' in html
    response = client_admin.post(url, {**CHANGE_FORM, "name": "Broken", "granularity": "30"})
    assert form_errors(response) == {
        "granularity": ["'30' is not allowed; choose one of PT15M, PT30M, PT1H, P1D"]
    }
    report.refresh_from_db()
    assert report.params == {"granularity": 30}


def test_it_keeps_the_shipped_reports_valid(client_admin: Client) -> None:
    # Opened and saved as they are, the default reports keep their params (and their key).
    for report in SavedReport.objects.filter(
        name__in=[
            "Last 24 hours, all queues, 30 min",
            "Today, all queues, 30 min",
            "Last 7 days, daily",
        ]
    ):
        url = f"/admin/analytics_worker/savedreport/{report.pk}/change/"
        form = client_admin.get(url).context["adminform"].form
        data = {**CHANGE_FORM, "name": report.name, "refresh_seconds": report.refresh_seconds}
        for name in (
            "range",
            "start",
            "end",
            "granularity",
            "tz",
            "type",
            "direction",
            "queue",
            "view",
            "source",
        ):
            data[name] = form[name].value() or ""
        response = client_admin.post(url, data)
        assert response.status_code == 302, form_errors(response)
        saved = SavedReport.objects.get(pk=report.pk)
        assert saved.params == report.params


def test_refresh_now_says_what_is_wrong_with_a_bad_row(
    client_admin: Client, saved_report, enqueued
) -> None:
    bad = SavedReport.objects.create(name="A broken one", params={"granularity": 30})
    response = client_admin.post(
        "/admin/analytics_worker/savedreport/",
        {"action": "refresh_now", "_selected_action": [bad.pk, saved_report.pk]},
        follow=True,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert (
        "A broken one: not refreshed, its filters are invalid: granularity: &#x27;30&#x27; is not "
        "allowed; choose one of PT15M, PT30M, PT1H, P1D. Open it, fix them and save." in html
    )
    assert "Refreshing 1 report(s): Test: last 24 h by 30 min." in html
    assert len(enqueued_jobs(enqueued)) == 1


def test_it_offers_the_queues_by_name_once_they_are_known(
    client_admin: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services, "queue_choices", lambda: [("q-1", "Sales"), ("q-2", "Support")])
    report = SavedReport.objects.create(name="Sales", params={"queue": ["q-1", "q-9"]})
    url = f"/admin/analytics_worker/savedreport/{report.pk}/change/"
    html = client_admin.get(url).content.decode()
    assert '<option value="q-1" selected>Sales</option>' in html
    assert '<option value="q-2">Support</option>' in html
    # Gone from the directory, still saved: shown, to be taken out, never silently dropped...
    assert '<option value="q-9" selected>q-9</option>' in html
    # ... and refused on save by name, since it would fetch nothing (a quiet zero).
    response = client_admin.post(url, {**CHANGE_FORM, "name": "Sales", "queue": ["q-1", "q-9"]})
    assert response.status_code == 200
    assert "no queue is named &#x27;q-9&#x27;" in response.content.decode()
    response = client_admin.post(url, {**CHANGE_FORM, "name": "Sales", "queue": ["q-1"]})
    assert response.status_code == 302, form_errors(response)
    report.refresh_from_db()
    assert report.params["queue"] == ["q-1"]
