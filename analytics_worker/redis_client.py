"""The one Redis connection for the report cache, job status, locks, OAuth token and rate limiter.

Everything calls get_redis() at use time (never keeps its own client), so tests swap in fakeredis
or a real Redis on a test DB number by setting `_client`.
"""

from __future__ import annotations

import redis
from django.conf import settings

from analytics_worker.reports import SCHEMA_VERSION

# Every key carries the schema version, so a new result format never reads an old value.
KEY_PREFIX = f"gad:v{SCHEMA_VERSION}:"

_client: redis.Redis | None = None


def get_redis() -> redis.Redis:
    global _client
    if _client is None:
        # Short timeouts: a dead Redis must become a clear "cache unavailable", not a hung page.
        _client = redis.Redis.from_url(
            settings.REPORT_CACHE_REDIS_URL,
            socket_timeout=2,
            socket_connect_timeout=2,
            health_check_interval=30,
        )
    return _client


def redis_key(*parts: str) -> str:
    return KEY_PREFIX + ":".join(parts)
