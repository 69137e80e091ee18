"""dashboard.middleware: messages storage made only when a request uses it, and private
caching for logged-in users whatever the view already set."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.models import AnonymousUser, User
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django.utils.functional import empty

from dashboard.middleware import LazyMessageMiddleware, private_cache_middleware


def _through_messages(use: bool) -> tuple[HttpRequest, HttpResponse]:
    request = RequestFactory().get("/")
    request.session = {}  # type: ignore[assignment]

    def view(request: HttpRequest) -> HttpResponse:
        if use:
            messages.info(request, "Refreshing this report from the source.")
        return HttpResponse("ok")

    response = LazyMessageMiddleware(view)(request)
    return request, response


def test_a_message_added_is_stored_for_the_next_request() -> None:
    request, response = _through_messages(use=True)
    assert response.cookies["messages"].value  # FallbackStorage: a cookie first
    assert request._messages._wrapped is not empty


def test_a_request_that_never_uses_messages_makes_no_storage() -> None:
    request, response = _through_messages(use=False)
    assert "messages" not in response.cookies
    assert request._messages._wrapped is empty  # never set up


def test_messages_of_an_earlier_request_are_read_when_shown() -> None:
    _, first = _through_messages(use=True)
    request = RequestFactory().get("/")
    request.COOKIES["messages"] = first.cookies["messages"].value
    request.session = {}  # type: ignore[assignment]
    shown: list[str] = []

    def view(request: HttpRequest) -> HttpResponse:
        shown.extend(str(message) for message in messages.get_messages(request))
        return HttpResponse("ok")

    response = LazyMessageMiddleware(view)(request)
    assert shown == ["Refreshing this report from the source."]
    assert response.cookies["messages"].value == ""  # read, so cleared


def _cache_control(user: object, set_by_view: str | None) -> str:
    request = RequestFactory().get("/")
    request.user = user  # type: ignore[assignment]

    def view(request: HttpRequest) -> HttpResponse:
        response = HttpResponse("ok")
        if set_by_view is not None:
            response["Cache-Control"] = set_by_view
        return response

    return private_cache_middleware(view)(request).get("Cache-Control", "")


def test_a_logged_in_answer_is_private_whatever_the_view_set() -> None:
    user = User(username="supervisor")
    assert _cache_control(user, None) == "private"
    assert _cache_control(user, "no-cache") == "no-cache, private"
    assert _cache_control(user, "no-store, max-age=0") == "no-store, max-age=0, private"
    assert _cache_control(user, "public, max-age=60") == "max-age=60, private"
    assert _cache_control(AnonymousUser(), "no-cache") == "no-cache"
