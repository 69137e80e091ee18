"""Login throttling (django-axes) on both login pages: a username or an address that failed too
often is refused for a while, with a page that says what to do."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client, RequestFactory

from dashboard.middleware import login_client_address

pytestmark = pytest.mark.django_db

PASSWORD = "right-horse-battery-staple"
WRONG = "wrong-password-4d1c"
LOGIN_PAGES = ("/accounts/login/", "/admin/login/")


@pytest.fixture(autouse=True)
def fast_passwords(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


@pytest.fixture
def sam(db: None) -> User:
    return User.objects.create_user("sam", password=PASSWORD, is_staff=True)


def log_in(
    username: str, password: str, *, page: str = "/accounts/login/", address: str = "10.0.0.1"
):
    return Client(REMOTE_ADDR=address).post(page, {"username": username, "password": password})


def assert_locked_out(response) -> None:
    assert response.status_code == 429
    text = response.content.decode()
    assert "Too many failed logins" in text
    assert "Wait 15 minutes, then try again" in text
    assert "_auth_user_id" not in response.client.session


def test_a_right_password_logs_in(sam: User) -> None:
    response = log_in("sam", PASSWORD)
    assert response.status_code == 302
    assert response.client.session["_auth_user_id"] == str(sam.pk)


def test_it_locks_a_username_after_repeated_failures_from_anywhere(sam: User) -> None:
    for number in range(2):
        failed = log_in("sam", WRONG, address=f"10.0.1.{number}")
        assert failed.status_code == 200 and b"didn't match" in failed.content
    # The third failure locks the username, and says so.
    assert_locked_out(log_in("sam", WRONG, address="10.0.1.9"))
    # Even the right password, from an address that never failed, is refused now.
    assert_locked_out(log_in("sam", PASSWORD, address="10.0.2.1"))


def test_it_locks_an_address_that_tries_many_usernames(sam: User) -> None:
    for name in ("alice", "bob"):
        assert log_in(name, WRONG, address="10.0.3.1").status_code == 200
    assert_locked_out(log_in("carol", WRONG, address="10.0.3.1"))
    assert_locked_out(log_in("sam", PASSWORD, address="10.0.3.1"))
    # Another address is not affected.
    assert log_in("sam", PASSWORD, address="10.0.3.2").status_code == 302


def test_failures_on_the_admin_login_count_too(sam: User) -> None:
    for _ in range(2):
        assert log_in("sam", WRONG, page="/admin/login/").status_code == 200
    assert_locked_out(log_in("sam", WRONG, page="/admin/login/"))
    for page in LOGIN_PAGES:
        assert_locked_out(log_in("sam", PASSWORD, page=page, address="10.0.4.1"))


def test_the_lock_ends_after_the_cool_off(sam: User) -> None:
    with time_machine.travel("2030-01-01 12:00:00 +0000", tick=False) as clock:
        for _ in range(3):
            log_in("sam", WRONG)
        assert_locked_out(log_in("sam", PASSWORD))
        clock.shift(timedelta(minutes=16))
        assert log_in("sam", PASSWORD).status_code == 302


def test_a_success_starts_the_count_afresh(sam: User) -> None:
    for _ in range(2):
        log_in("sam", WRONG)
    assert log_in("sam", PASSWORD).status_code == 302
    for _ in range(2):
        log_in("sam", WRONG)
    assert log_in("sam", PASSWORD).status_code == 302


def test_a_lockout_is_logged_without_the_password(
    sam: User, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        for _ in range(4):
            log_in("sam", WRONG)
    locked = [record for record in caplog.records if "Locking out" in record.getMessage()]
    assert locked and locked[0].levelno == logging.WARNING
    assert WRONG not in caplog.text and PASSWORD not in caplog.text


def test_behind_proxies_it_counts_the_clients_address() -> None:
    factory = RequestFactory()
    request = factory.get("/", REMOTE_ADDR="10.9.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7")
    assert login_client_address(request) == "10.9.0.1"


def test_with_proxies_it_reads_x_forwarded_for_from_the_right(settings) -> None:
    factory = RequestFactory()
    # What the client sent itself (6.6.6.6) is left of what the proxies appended.
    forwarded = "6.6.6.6, 203.0.113.7, 10.9.0.2"
    request = factory.get("/", REMOTE_ADDR="10.9.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    settings.LOGIN_PROXY_COUNT = 1
    assert login_client_address(request) == "10.9.0.2"
    settings.LOGIN_PROXY_COUNT = 2
    assert login_client_address(request) == "203.0.113.7"
    # A request that did not come through the proxies: its own address.
    settings.LOGIN_PROXY_COUNT = 4
    assert login_client_address(request) == "10.9.0.1"


def test_with_a_proxy_two_addresses_behind_it_are_counted_apart(sam: User, settings) -> None:
    settings.LOGIN_PROXY_COUNT = 1
    for _ in range(3):
        Client(REMOTE_ADDR="10.9.0.1", HTTP_X_FORWARDED_FOR="203.0.113.7").post(
            "/accounts/login/", {"username": "nobody", "password": WRONG}
        )
    behind_the_same_proxy = Client(REMOTE_ADDR="10.9.0.1", HTTP_X_FORWARDED_FOR="203.0.113.8")
    response = behind_the_same_proxy.post(
        "/accounts/login/", {"username": "sam", "password": PASSWORD}
    )
    assert response.status_code == 302
