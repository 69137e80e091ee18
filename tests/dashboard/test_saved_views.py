"""Saved views: staff save the page's filters from the page; everyone sees them in a menu; beat
keeps them warm like any saved report. The demo user can manage them in the admin."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from analytics_worker.models import SavedReport
from tests.dashboard.helpers import DAY_QUERY

pytestmark = pytest.mark.django_db
QUERY = DAY_QUERY + "&type=voice&type=chat&group=queue"


def save(client: Client, **fields: str):
    return client.post("/saved-views", {"query": QUERY, "refresh_minutes": "5", **fields})


def test_staff_save_the_pages_filters_and_everyone_sees_them(
    client_staff: Client, client_alice: Client, enqueued
):
    response = save(client_staff, name="  Voice and chat   by queue ")
    assert response.status_code == 302 and response["Location"] == "/?" + QUERY
    report = SavedReport.objects.get(name="Voice and chat by queue")
    assert report.refresh_seconds == 300
    assert report.params == {
        "range": "custom",
        "start": "2024-11-02",
        "end": "2024-11-02",
        "granularity": "PT1H",
        "tz": "America/Chicago",
        "type": ["voice", "chat"],
        "group": "queue",
    }
    html = client_alice.get("/?" + DAY_QUERY).content.decode()
    assert ">Voice and chat by queue</a>" in html
    assert "type=voice&amp;type=chat" in html
    # Only staff are offered the form.
    assert 'id="save-view"' not in html


def test_only_staff_save_views(client_alice: Client):
    assert save(client_alice, name="Mine").status_code == 403
    assert not SavedReport.objects.filter(name="Mine").exists()


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"name": ""}, "give the view a name"),
        ({"name": "X", "refresh_minutes": "7"}, "choose how often"),
        ({"name": "X", "query": "tz=Mars/Olympus"}, "Time zone: unknown time zone"),
    ],
)
def test_a_view_that_cannot_be_saved_says_why(client_staff: Client, fields, error):
    before = SavedReport.objects.count()  # the defaults the migrations ship
    response = save(client_staff, **fields)
    assert response.status_code == 302
    page = client_staff.get(response["Location"]).content.decode()
    assert error in page
    assert SavedReport.objects.count() == before


def test_a_second_view_of_the_same_name_is_refused(client_staff: Client, enqueued):
    save(client_staff, name="Morning")
    response = save(client_staff, name="Morning")
    assert (
        "a view named &#x27;Morning&#x27; exists"
        in client_staff.get(response["Location"]).content.decode()
    )
    assert SavedReport.objects.filter(name="Morning").count() == 1


def test_the_demo_user_can_open_the_saved_reports_in_the_admin(settings):
    settings.GENESYS_SIMULATOR = True
    call_command("ensure_demo_user", stdout=StringIO())
    client = Client()
    client.force_login(User.objects.get(username="demo"))
    response = client.get("/admin/analytics_worker/savedreport/")
    assert response.status_code == 200
    # A demo user made before the permissions existed gets them on the next run.
    demo = User.objects.get(username="demo")
    demo.user_permissions.clear()
    call_command("ensure_demo_user", stdout=StringIO())
    client.force_login(User.objects.get(username="demo"))
    assert client.get("/admin/analytics_worker/savedreport/").status_code == 200
