"""dashboard.polled: production's WSGI application answers a GET of a polled URL (/api/report,
/api/live) through the same middleware and view as Django's handler, without the rest of its
cycle, and gives up nothing of the login, the headers or the database's housekeeping."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from django.contrib.auth.models import User
from django.core import signals
from django.core.cache.backends.locmem import LocMemCache
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from django.http import HttpRequest, HttpResponse
from django.test import Client

from dashboard import polled
from dashboard.polled import SKIPPED_MIDDLEWARE, PolledApplication, PolledRoutes
from tests.dashboard.helpers import DAY_QUERY, put_report, spec_from_query

pytestmark = pytest.mark.django_db

REPORT = "/api/report?" + DAY_QUERY
Answer = tuple[str, list[tuple[str, str]], bytes]


def call(
    application: Callable[..., Any],
    path: str,
    *,
    cookie: str = "",
    method: str = "GET",
    **meta: str,
) -> Answer:
    """One request through a WSGI application, as gunicorn makes it: status, headers, body."""
    path_info, _, query = path.partition("?")
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path_info,
        "QUERY_STRING": query,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver",
        "HTTP_COOKIE": cookie,
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        **meta,
    }
    started: list[Any] = []
    body = application(
        environ, lambda status, headers, exc_info=None: started.extend([status, headers])
    )
    try:
        content = b"".join(body)
    finally:
        if hasattr(body, "close"):
            body.close()
    return started[0], started[1], content


@pytest.fixture(autouse=True)
def connection_kept(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As Django's test client does: the test's transaction holds the database connection, which
    close_old_connections would close (on PostgreSQL, autocommit is off inside the test's atomic
    block), whether the request signals or the polled path call it."""
    monkeypatch.setattr(polled, "close_old_connections", lambda: None)
    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (signals.request_started, signals.request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def session_cookie(alice: User) -> str:
    client = Client()
    client.force_login(alice)
    return f"sessionid={client.cookies['sessionid'].value}"


@pytest.fixture
def django_app() -> WSGIHandler:
    return WSGIHandler()


@pytest.fixture
def app(django_app: WSGIHandler) -> PolledApplication:
    return PolledApplication(django_app)


def without_live_clock(answer: Answer) -> Answer:
    """/api/live's answer says when it was made ("now", and so its length): not compared."""
    status, headers, body = answer
    if body.startswith(b"{") and b'"now":' in body:
        data = orjson.loads(body)
        data.pop("now")
        body = orjson.dumps(data)
        headers = [(name, "" if name == "Content-Length" else value) for name, value in headers]
    return status, headers, body


@pytest.mark.parametrize(
    ("path", "meta", "expected"),
    [
        (REPORT, {"HTTP_ACCEPT_ENCODING": "gzip"}, "200 OK"),
        (REPORT, {}, "200 OK"),
        (REPORT, {"HTTP_IF_NONE_MATCH": "etag"}, "304 Not Modified"),
        (REPORT, {"HTTP_IF_NONE_MATCH": '"another"'}, "200 OK"),
        ("/api/report?range=sometime", {}, "400 Bad Request"),
        ("/api/live", {}, "200 OK"),
        ("/api/live?queue=not-a-queue!", {}, "400 Bad Request"),
        ("/api/live", {"HTTP_X_WALLBOARD_TOKEN": "no-such-link"}, "403 Forbidden"),
    ],
)
def test_it_answers_a_poll_exactly_as_django_does(
    app: PolledApplication,
    django_app: WSGIHandler,
    session_cookie: str,
    path: str,
    meta: dict[str, str],
    expected: str,
    enqueued: Any,
) -> None:
    put_report(spec_from_query(DAY_QUERY))
    if meta.get("HTTP_IF_NONE_MATCH") == "etag":
        meta = {
            "HTTP_IF_NONE_MATCH": dict(call(django_app, path, cookie=session_cookie)[1])["ETag"]
        }
    ours = call(app, path, cookie=session_cookie, **meta)
    assert ours[0] == expected
    assert without_live_clock(ours) == without_live_clock(
        call(django_app, path, cookie=session_cookie, **meta)
    )


def test_it_headers_a_poll_as_every_answer(app: PolledApplication, session_cookie: str) -> None:
    put_report(spec_from_query(DAY_QUERY))
    status, headers, body = call(app, REPORT, cookie=session_cookie)
    named = dict(headers)
    assert status == "200 OK"
    assert named["X-Frame-Options"] == "DENY"
    assert named["X-Content-Type-Options"] == "nosniff"
    assert "default-src" in named["Content-Security-Policy"]
    assert {"no-cache", "private"} <= {part.strip() for part in named["Cache-Control"].split(",")}
    assert named["Vary"] == "Accept-Encoding, Cookie"
    assert named["Content-Length"] == str(len(body))


def test_an_anonymous_poll_is_refused(app: PolledApplication) -> None:
    put_report(spec_from_query(DAY_QUERY))
    status, _, body = call(app, REPORT)
    assert status == "401 Unauthorized"
    assert "Log in" in orjson.loads(body)["error"]


def test_a_logged_out_session_polls_no_more(
    app: PolledApplication, alice: User, enqueued: Any
) -> None:
    put_report(spec_from_query(DAY_QUERY))
    client = Client()
    client.force_login(alice)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    assert call(app, REPORT, cookie=cookie)[0] == "200 OK"
    client.logout()
    assert call(app, REPORT, cookie=cookie)[0] == "401 Unauthorized"


def test_a_deactivated_user_is_refused_at_the_next_poll(
    app: PolledApplication, alice: User, session_cookie: str
) -> None:
    put_report(spec_from_query(DAY_QUERY))
    assert call(app, REPORT, cookie=session_cookie)[0] == "200 OK"
    alice.is_active = False
    alice.save()
    assert call(app, REPORT, cookie=session_cookie)[0] == "401 Unauthorized"


def test_a_password_change_ends_the_session_at_the_next_poll(
    app: PolledApplication, alice: User, session_cookie: str
) -> None:
    put_report(spec_from_query(DAY_QUERY))
    assert call(app, REPORT, cookie=session_cookie)[0] == "200 OK"
    alice.set_password("a new one, elsewhere")
    alice.save()
    status, headers, _ = call(app, REPORT, cookie=session_cookie)
    assert status == "401 Unauthorized"
    # The session is flushed and its cookie deleted, as Django's handler does.
    cookies = [value for name, value in headers if name == "Set-Cookie"]
    assert len(cookies) == 1, headers
    assert cookies[0].startswith(' sessionid=""; expires=Thu, 01 Jan 1970 00:00:00 GMT')


def test_plain_http_is_redirected_when_https_is_required(
    settings, django_app: WSGIHandler, session_cookie: str
) -> None:
    settings.SECURE_SSL_REDIRECT = True
    status, headers, _ = call(PolledApplication(django_app), REPORT, cookie=session_cookie)
    assert status == "301 Moved Permanently"
    assert dict(headers)["Location"] == f"https://testserver{REPORT}"


def test_a_host_not_allowed_is_refused(app: PolledApplication, session_cookie: str) -> None:
    status, _, _ = call(app, REPORT, cookie=session_cookie, HTTP_HOST="evil.example")
    assert status == "400 Bad Request"


def test_hsts_is_sent_over_https(settings, django_app: WSGIHandler, session_cookie: str) -> None:
    settings.SECURE_HSTS_SECONDS = 3600
    put_report(spec_from_query(DAY_QUERY))
    headers = call(
        PolledApplication(django_app), REPORT, cookie=session_cookie, **{"wsgi.url_scheme": "https"}
    )[1]
    assert dict(headers)["Strict-Transport-Security"] == "max-age=3600"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", REPORT),  # Django's answer: CSRF refuses it, a middleware polls skip
        ("HEAD", REPORT),
        ("GET", "/api/report/"),
        ("GET", "/api/job/abc"),
    ],
)
def test_anything_but_a_get_of_a_polled_url_goes_to_django(
    app: PolledApplication,
    django_app: WSGIHandler,
    session_cookie: str,
    method: str,
    path: str,
) -> None:
    put_report(spec_from_query(DAY_QUERY))
    answer = call(app, path, cookie=session_cookie, method=method)
    assert answer == call(django_app, path, cookie=session_cookie, method=method)
    if method == "POST":
        assert answer[0] == "403 Forbidden"


def stamp_middleware(get_response: Callable[[HttpRequest], HttpResponse]) -> Any:
    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        response["X-Stamp"] = "stamped"
        return response

    return middleware


class ViewHookMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, *args: Any) -> None:
        return None


def test_a_middleware_added_to_the_settings_runs_on_polls_too(
    settings, django_app: WSGIHandler, session_cookie: str
) -> None:
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}.stamp_middleware"]
    put_report(spec_from_query(DAY_QUERY))
    headers = call(PolledApplication(WSGIHandler()), REPORT, cookie=session_cookie)[1]
    assert dict(headers)["X-Stamp"] == "stamped"


def test_a_middleware_with_a_view_hook_is_refused_at_start(settings) -> None:
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}.ViewHookMiddleware"]
    with pytest.raises(ImproperlyConfigured, match="process_view.*SKIPPED_MIDDLEWARE"):
        PolledApplication(WSGIHandler())


def test_only_middleware_that_cannot_change_a_poll_is_skipped(settings) -> None:
    # Each skipped one is in the settings (a stale entry would hide a renamed middleware).
    assert set(SKIPPED_MIDDLEWARE) <= set(settings.MIDDLEWARE)
    assert "django.middleware.security.SecurityMiddleware" not in SKIPPED_MIDDLEWARE
    assert "django.contrib.sessions.middleware.SessionMiddleware" not in SKIPPED_MIDDLEWARE


@pytest.fixture
def signals_seen() -> Iterator[list[str]]:
    seen: list[str] = []

    def started(**_: Any) -> None:
        seen.append("started")

    def finished(**_: Any) -> None:
        seen.append("finished")

    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    yield seen
    signals.request_started.disconnect(started)
    signals.request_finished.disconnect(finished)


def test_a_poll_skips_the_request_signals_when_only_django_listens(
    django_app: WSGIHandler,
    session_cookie: str,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    closed: list[bool] = []
    monkeypatch.setattr(polled, "close_old_connections", lambda: closed.append(True))
    application = PolledApplication(django_app)  # before anyone else listens
    assert not application.signals_always
    seen = request.getfixturevalue("signals_seen")
    put_report(spec_from_query(DAY_QUERY))
    assert call(application, REPORT, cookie=session_cookie)[0] == "200 OK"
    assert seen == []
    # What Django's receivers would have done for it: the thread's database connection checked.
    assert closed == [True]


def test_a_poll_sends_the_request_signals_to_a_receiver_of_their_own(
    django_app: WSGIHandler, session_cookie: str, signals_seen: list[str]
) -> None:
    application = PolledApplication(django_app)
    assert application.signals_always
    put_report(spec_from_query(DAY_QUERY))
    assert call(application, REPORT, cookie=session_cookie)[0] == "200 OK"
    assert signals_seen == ["started", "finished"]


class ClosingCache(LocMemCache):
    def close(self, **kwargs: Any) -> None:  # as memcached's: its connections, each request
        pass


def test_a_cache_that_needs_closing_gets_the_request_signals(settings) -> None:
    assert polled.request_signals_skippable()
    settings.CACHES = {"default": {"BACKEND": f"{__name__}.ClosingCache"}}
    assert not polled.request_signals_skippable()


def test_debug_gets_the_request_signals(settings, django_app: WSGIHandler) -> None:
    settings.DEBUG = True
    assert PolledApplication(django_app).signals_always


def test_the_test_client_answers_polls_as_production_does(
    client_alice: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """So every test of /api/report and /api/live tests the chains that serve them."""
    answered: list[tuple[str, int | None]] = []
    respond = PolledRoutes.respond

    def recorded(routes: PolledRoutes, request: HttpRequest) -> HttpResponse | None:
        response = respond(routes, request)
        answered.append((request.path, response.status_code if response else None))
        return response

    monkeypatch.setattr(PolledRoutes, "respond", recorded)
    put_report(spec_from_query(DAY_QUERY))
    assert client_alice.get(REPORT).status_code == 200
    assert client_alice.get("/").status_code == 200
    assert answered == [("/api/report", 200), ("/", None)]
