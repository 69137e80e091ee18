"""Request and response plumbing: a Content-Security-Policy header on every response (Django 5.2
has no built-in one), `Cache-Control: private` for logged-in users, messages storage made only
when used, and the client address that login throttling counts."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.messages.storage import default_storage
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control
from django.utils.functional import SimpleLazyObject, empty


def content_security_policy_middleware(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    policy = settings.DASHBOARD_CONTENT_SECURITY_POLICY

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        # A view that needs a different policy (none does today) can set its own.
        response.headers.setdefault("Content-Security-Policy", policy)
        return response

    return middleware


def private_cache_middleware(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """Whatever a logged-in user is shown is theirs: no shared proxy or CDN may keep a copy and
    hand it to someone else. Views that must not be stored at all (exports) add no-store."""

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        if request.user.is_authenticated:
            policy = response.get("Cache-Control")
            if policy is None:
                response["Cache-Control"] = "private"
            elif policy == "no-cache":  # every cached hit and 304: skip parsing it
                response["Cache-Control"] = "no-cache, private"
            else:
                patch_cache_control(response, private=True)
        return response

    return middleware


class LazyMessageMiddleware(MessageMiddleware):
    """Django's MessageMiddleware (the admin needs one), whose storage is made when a request
    first uses it: the JSON API and the live endpoints never do, and making it (two storages
    and a cookie signer) on every request was a thirtieth of a cached hit. A request that never
    touched its messages has none to store."""

    def process_request(self, request: HttpRequest) -> None:
        request._messages = SimpleLazyObject(lambda: default_storage(request))  # type: ignore[attr-defined]

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        messages = getattr(request, "_messages", None)
        if isinstance(messages, SimpleLazyObject) and messages._wrapped is empty:
            return response
        return super().process_response(request, response)


def login_client_address(request: HttpRequest) -> str:
    """The address django-axes counts a login attempt against (AXES_CLIENT_IP_CALLABLE).

    Behind LOGIN_PROXY_COUNT proxies, each appends the address it saw to X-Forwarded-For, so the
    client is that many entries from the right; anything further left came from the client and
    could be forged to dodge the per-address limit.
    """
    proxies = settings.LOGIN_PROXY_COUNT
    if proxies:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        if len(hops) >= proxies and hops[-proxies]:
            return hops[-proxies]
    return str(request.META.get("REMOTE_ADDR", ""))
