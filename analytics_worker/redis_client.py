"""The one Redis connection for the report cache, job status, locks, OAuth token and rate limiter.

Everything calls get_redis() at use time (never keeps its own client), so tests swap in fakeredis
or a real Redis on a test DB number by setting `_client`.
"""

from __future__ import annotations

import redis
from django.conf import settings
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from analytics_worker.reports import SCHEMA_VERSION

# Every key carries the schema version, so a new result format never reads an old value.
KEY_PREFIX = f"gad:v{SCHEMA_VERSION}:"

_client: redis.Redis | None = None


def get_redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = connect(settings.REPORT_CACHE_REDIS_URL)
    return _client


def connect(url: str) -> redis.Redis:
    # Short timeouts and one quick retry: a dead Redis must become a clear "cache unavailable"
    # within a second, not a page that hangs through redis-py's default backoff.
    return redis.Redis.from_url(
        url,
        socket_timeout=2,
        socket_connect_timeout=1,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), retries=1),
        health_check_interval=30,
    )


def as_text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def redis_key(*parts: str) -> str:
    return KEY_PREFIX + ":".join(parts)


def metric_incr(name: str, amount: float = 1, **labels: str) -> None:
    """Add to a counter that every web and worker process shares (one field of one Redis hash,
    read by /metrics). Never raises: a metric must not break a fetch or a page."""
    try:
        get_redis().hincrbyfloat(redis_key("metrics"), metric_field(name, **labels), amount)
    except redis.RedisError:
        pass


def metric_field(name: str, **labels: str) -> str:
    """The metrics hash's field for one counter: `name;label=value;...`, labels sorted."""
    return ";".join([name, *(f"{key}={value}" for key, value in sorted(labels.items()))])


def metrics_read() -> dict[str, float]:
    """Every counter, as `name;label=value;...` -> total. Raises redis.RedisError."""
    raw = get_redis().hgetall(redis_key("metrics"))
    return {as_text(field): float(value) for field, value in raw.items()}
