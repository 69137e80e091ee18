"""A Content-Security-Policy header on every response (Django 5.2 has no built-in one)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


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
