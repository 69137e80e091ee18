"""The benchmarks' WSGI entry point: the product's Django application, and in front of it the
ceiling view of bench 1.

The ceiling is the least any server could do for a cached report: a bare WSGI callable, no
Django, no middleware, no login, that answers the same bytes as GET /api/report from one Redis
GET; the bare 304 view the same for a poll of an unchanged report. Run with
`gunicorn bench.wsgi:application -w 3`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

_django = get_wsgi_application()

from analytics_worker.redis_client import get_redis  # noqa: E402 (needs settings loaded)
from bench.stack import BARE_304_KEY, BARE_304_PATH, CEILING_KEY, CEILING_PATH  # noqa: E402
from dashboard.polled import PolledApplication  # noqa: E402

# As production serves it (config/wsgi.py).
django_application = PolledApplication(_django)


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ.get("PATH_INFO") == CEILING_PATH:
        return ceiling(environ, start_response)
    if environ.get("PATH_INFO") == BARE_304_PATH:
        return bare_304(environ, start_response)
    return django_application(environ, start_response)


def ceiling(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = get_redis().get(CEILING_KEY) or b"{}"
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    if body.startswith(b"\x1f\x8b"):  # ours's answer to a client that accepts gzip
        headers.append(("Content-Encoding", "gzip"))
    start_response("200 OK", headers)
    return [body]


def bare_304(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The least a server could do for an unchanged report polled with If-None-Match: one Redis
    GET of the ETag, a comparison, a 304 with no headers but the ETag (bench "polling")."""
    etag = (get_redis().get(BARE_304_KEY) or b"").decode()
    if etag and environ.get("HTTP_IF_NONE_MATCH") == etag:
        start_response("304 Not Modified", [("ETag", etag)])
        return []
    start_response("412 Precondition Failed", [("Content-Length", "0")])
    return []
