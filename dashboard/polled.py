"""The requests a dashboard repeats all day (a report polled, the live wallboard), answered by
their views through the middleware that can change their answers, without Django's URL
resolving, the middleware that cannot, and the request signals.

Around a cached hit those were a quarter of its instructions (docs/PERFORMANCE.md, 2026-12-03
evening), for work that cannot change the answer to a GET of these views. What runs instead is
Django's own machinery with those parts left out: the same middleware classes in the same order
(a new entry in MIDDLEWARE runs here too unless SKIPPED_MIDDLEWARE says why it cannot matter),
the same views, Django's exception handling and error log. Of the request signals' work, the one
part a poll needs (a database connection past its age or broken is closed) is done directly;
when anything else listens to them, they are sent. Production's WSGI application is a
PolledApplication around Django's (config/wsgi.py); the tests' client answers through the same
chains (tests/helpers.py), so every test of these views tests what serves them.

To poll another view this way, add its URL name to POLLED_URL_NAMES. It must answer a GET with an
HttpResponse, use no messages, log no one in and ask for no CSRF token (so no template with a
form): the middleware for those are not on this path.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core import signals
from django.core.cache import caches, close_caches
from django.core.cache.backends.base import BaseCache
from django.core.exceptions import ImproperlyConfigured, MiddlewareNotUsed
from django.core.handlers.base import BaseHandler, reset_urlconf
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest, get_script_name
from django.db import close_old_connections, reset_queries
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import resolve, reverse, set_script_prefix
from django.utils.log import log_response
from django.utils.module_loading import import_string

POLLED_URL_NAMES = ("dashboard-api-report", "dashboard-api-live")

# Middleware that cannot change the answer to a GET of a polled view, and why; every other entry
# of MIDDLEWARE runs on these requests as on any other.
SKIPPED_MIDDLEWARE = {
    "whitenoise.middleware.WhiteNoiseMiddleware": "it answers only paths of static files",
    "django.middleware.csrf.CsrfViewMiddleware": (
        "it refuses only unsafe methods, and sets its cookie only for a view that asks for a token"
    ),
    "dashboard.middleware.LazyMessageMiddleware": "it stores messages only for a view that adds one",
    "axes.middleware.AxesMiddleware": "it changes only the answer to a refused login",
}

# Django's handler calls these middleware hooks around the view; the chains here do not.
_VIEW_HOOKS = ("process_view", "process_template_response", "process_exception")

# What listens to request_started and request_finished in Django itself. For a poll, all they
# do is close_old_connections, called directly: the query log they clear is kept only with
# DEBUG, a polled answer sets no URLconf to reset, and no configured cache's close does anything.
_REQUEST_SIGNAL_RECEIVERS = (reset_queries, close_old_connections, close_caches, reset_urlconf)

Chain = Callable[[HttpRequest], Any]  # an HttpResponseBase, as Django's own chain answers


class PolledRoutes:
    """The chain of each polled URL, built from `handler`'s settings as Django builds its own."""

    def __init__(self, handler: BaseHandler) -> None:
        self.chains: dict[str, Chain] = {}
        for name in POLLED_URL_NAMES:
            path = reverse(name)
            self.chains[path] = _chain(handler, resolve(path).func)

    def respond(self, request: HttpRequest) -> HttpResponseBase | None:
        """The answer to a GET of a polled URL, as Django's get_response makes it; None for any
        other request (Django answers it)."""
        chain = self.chains.get(request.path_info) if request.method == "GET" else None
        if chain is None:
            return None
        response: HttpResponseBase = chain(request)
        if response.status_code >= 400:
            log_response(
                "%s: %s",
                response.reason_phrase,
                request.path,
                response=response,  # type: ignore[arg-type]  # django-stubs: any response
                request=request,
            )
        return response


def _chain(handler: BaseHandler, view: Callable[..., HttpResponse]) -> Chain:
    atomic_view = handler.make_view_atomic(view)  # as ATOMIC_REQUESTS says, as Django does

    def view_answer(request: HttpRequest) -> HttpResponseBase:
        response = atomic_view(request)
        handler.check_response(response, view)
        return response

    chain: Chain = convert_exception_to_response(view_answer)
    for path in reversed(settings.MIDDLEWARE):
        if path in SKIPPED_MIDDLEWARE:
            continue
        try:
            middleware = import_string(path)(chain)
        except MiddlewareNotUsed:
            continue
        hooks = [hook for hook in _VIEW_HOOKS if hasattr(middleware, hook)]
        if hooks:
            raise ImproperlyConfigured(
                f"{path} has {hooks[0]}, which polled answers (dashboard.polled) do not call: "
                "list it in SKIPPED_MIDDLEWARE with the reason it cannot change the answer to a "
                "GET of a polled view, or take that view out of POLLED_URL_NAMES."
            )
        chain = convert_exception_to_response(middleware)
    return chain


class PolledApplication:
    """WSGI: a GET of a polled URL answered by PolledRoutes, anything else by `application`."""

    def __init__(self, application: WSGIHandler) -> None:
        self.application = application
        self.routes = PolledRoutes(application)
        # DEBUG: a development server, whose query log the signals clear.
        self.signals_always = settings.DEBUG or not request_signals_skippable()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("REQUEST_METHOD") != "GET" or environ.get("PATH_INFO") not in (
            self.routes.chains
        ):
            return self.application(environ, start_response)
        set_script_prefix(get_script_name(environ))
        if self.signals_always:
            signals.request_started.send(sender=type(self.application), environ=environ)
        response = self.routes.respond(WSGIRequest(environ))
        assert response is not None, "a GET of a polled URL"
        # request_finished's sender, as Django's handler sets it.
        response._handler_class = type(self.application)  # type: ignore[attr-defined]
        status = f"{response.status_code} {response.reason_phrase}"
        cookies = [("Set-Cookie", cookie.output(header="")) for cookie in response.cookies.values()]
        start_response(status, [*response.items(), *cookies])
        if self.signals_always or not isinstance(response, HttpResponse):  # streaming
            return response  # the server closes it, which sends request_finished
        # What the signals' receivers still do for this request: a database connection past
        # its age, or broken, is closed, and the next request to use it checks it first (a
        # thread reads the pending revocations once a second, so most hold one).
        close_old_connections()
        # A polled view answers bytes: nothing of it to close. (Django's handler adds the
        # request's close, which matters only for uploaded files, which a GET has none of.)
        return [response.content]


def request_signals_skippable() -> bool:
    """Whether only Django's own receivers listen to the request signals, and no configured
    cache needs closing: then a poll may skip them. An app that listens too (an error reporter,
    a metrics library) gets them on every request."""
    if any(type(caches[alias]).close is not BaseCache.close for alias in settings.CACHES):
        return False
    try:
        receivers = [
            _receiver(entry[1])
            for signal in (signals.request_started, signals.request_finished)
            for entry in signal.receivers
        ]
    except (AttributeError, IndexError, TypeError):  # another Django's layout: be safe
        return False
    return all(receiver in _REQUEST_SIGNAL_RECEIVERS for receiver in receivers)


def _receiver(reference: Any) -> Any:
    return reference() if isinstance(reference, weakref.ReferenceType) else reference
