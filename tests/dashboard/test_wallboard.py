"""Wallboard links: made in the admin (token shown once, only its hash kept), open their own live
view read-only without a login or a session, for hours; revocable; open nothing else."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from analytics_worker import live
from dashboard.models import WallboardLink, wallboard_token_hash

pytestmark = pytest.mark.django_db
SALES = "q-sales"


@pytest.fixture
def root(db: None) -> User:
    return User.objects.create_superuser("root", email="root@example.com")


@pytest.fixture
def client_root(root: User) -> Client:
    client = Client()
    client.force_login(root)
    return client


def _make_link(**fields) -> tuple[WallboardLink, str]:
    link = WallboardLink(label="Floor 2 TV", **fields)
    token = link.token_issue()
    link.save()
    return link, token


def test_staff_make_a_link_in_the_admin_and_see_its_token_once(client_root, root, monkeypatch):
    from analytics_worker import services

    monkeypatch.setattr(services, "queue_choices", lambda: [(SALES, "Sales"), ("q-b", "Billing")])
    response = client_root.post(
        "/admin/dashboard/wallboardlink/add/",
        {"label": "Floor 2 TV", "queues": [SALES], "dark": "on"},
        follow=True,
    )
    assert response.status_code == 200
    page = response.content.decode()
    [url] = re.findall(r"http://testserver/w/([A-Za-z0-9_-]+)", page)
    link = WallboardLink.objects.get()
    assert (link.label, link.queue_ids, link.dark, link.created_by) == (
        "Floor 2 TV",
        [SALES],
        True,
        root,
    )
    assert link.token_hash == wallboard_token_hash(url) and url not in link.token_hash
    listing = client_root.get("/admin/dashboard/wallboardlink/").content.decode()
    assert "Floor 2 TV" in listing and "Sales" in listing and url not in listing


def test_a_tv_opens_its_view_without_a_login_or_a_session(client):
    link, token = _make_link(queue_ids=[SALES])
    page = client.get(f"/w/{token}")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Floor 2 TV" in html and "live--wallboard" in html and "live--dark" in html
    assert token not in html  # the script reads it from the address
    assert page["Referrer-Policy"] == "no-referrer"
    assert not page.cookies.get("sessionid")

    api = client.get("/api/live?queue=q-other", headers={"X-Wallboard-Token": token})
    assert api.status_code == 200
    assert not api.cookies.get("sessionid")
    # The link's own view, whatever the URL asks for.
    assert live.live_watched_views() == {live.live_view_key([SALES]): [SALES]}
    link.refresh_from_db()
    assert link.last_used_at is not None


def test_it_stays_up_for_hours(client, time_machine):
    time_machine.move_to("2024-05-02 08:00:00Z", tick=False)
    _, token = _make_link()
    for hours in (1, 4, 9, 13):
        time_machine.move_to(f"2024-05-02 {8 + hours:02d}:00:00Z", tick=False)
        assert client.get("/api/live", headers={"X-Wallboard-Token": token}).status_code == 200
    assert client.get(f"/w/{token}").status_code == 200


def test_a_revoked_link_stops_at_the_next_poll_and_says_what_to_do(client, client_root):
    link, token = _make_link()
    assert client.get("/api/live", headers={"X-Wallboard-Token": token}).status_code == 200
    client_root.post(
        "/admin/dashboard/wallboardlink/",
        {"action": "revoke", "_selected_action": [link.pk]},
    )
    link.refresh_from_db()
    assert link.revoked_at is not None
    response = client.get("/api/live", headers={"X-Wallboard-Token": token})
    assert response.status_code == 403
    assert "ask a supervisor for a new one" in response.json()["error"]
    page = client.get(f"/w/{token}")
    assert page.status_code == 403 and "Ask a supervisor" in page.content.decode()


def test_a_new_token_replaces_the_old(client, client_root):
    link, old = _make_link()
    response = client_root.post(
        "/admin/dashboard/wallboardlink/",
        {"action": "issue_new_token", "_selected_action": [link.pk]},
        follow=True,
    )
    [new] = re.findall(r"http://testserver/w/([A-Za-z0-9_-]+)", response.content.decode())
    assert client.get(f"/w/{old}").status_code == 403
    assert client.get(f"/w/{new}").status_code == 200


def test_an_unknown_token_opens_nothing(client):
    _make_link()
    assert client.get("/w/not-a-token").status_code == 403
    response = client.get("/api/live", headers={"X-Wallboard-Token": "not-a-token"})
    assert response.status_code == 403


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/live",
        "/api/report",
        "/report/panel",
        "/export.csv",
        "/export.json",
        "/api/jobs/abc",
        "/admin/",
        "/admin/dashboard/wallboardlink/",
        "/metrics",
    ],
)
def test_the_token_opens_no_other_url(path):
    _, token = _make_link()
    client = Client()
    for response in (
        client.get(path, headers={"X-Wallboard-Token": token}),
        client.get(f"{path}?token={token}", headers={"X-Wallboard-Token": token}),
    ):
        if response.status_code == 302:
            assert "/login/" in response["Location"], response["Location"]
        else:
            assert response.status_code in (401, 403), (path, response.status_code)
    # Nor does the page's own visit leave anything that would.
    client.get(f"/w/{token}")
    follow = client.get(path)
    assert follow.status_code in (302, 401, 403)
    if follow.status_code == 302:
        assert "/login/" in follow["Location"]
