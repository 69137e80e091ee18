"""The org's routing queues (GET /api/v2/routing/queues): their names, for the filter form and
tables, and their service-level goals per media type (mediaSettings.<media>.serviceLevel), for
"80 % in 20 s" next to a report's service level. Cached in Redis for all web processes and
workers, since queues change rarely.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
import redis

from analytics_worker.genesys.auth import client_fingerprint
from analytics_worker.genesys.entities import entities_fetch
from analytics_worker.genesys.errors import GenesysError
from analytics_worker.genesys.http import FetchProgress
from analytics_worker.redis_client import get_redis, queues_key

logger = logging.getLogger(__name__)

QUEUES_PATH = "/api/v2/routing/queues"
CACHE_SECONDS = 600
# After a failure the empty list is kept this long: during a Genesys outage only one page render
# a minute waits through the request's retries, not every render.
FAILURE_CACHE_SECONDS = 60


def queue_list_cached() -> list[tuple[str, str]] | None:
    """The cached queue list, or None when it is not cached (or Redis is down): never asks
    Genesys, so a page render never waits on it."""
    try:
        return _cached()
    except redis.RedisError as exc:
        logger.warning("queue list: Redis is unavailable (%s)", type(exc).__name__)
        return None


# media type -> (goal as a ratio, threshold in milliseconds)
ServiceLevels = dict[str, tuple[float, int]]


def _cached_entries() -> list[tuple[str, str, ServiceLevels]] | None:
    cached = get_redis().get(_cache_key())
    if cached is None:
        return None
    entries = []
    for queue_id, name, *rest in orjson.loads(cached):
        levels = rest[0] if rest else {}  # entries cached before goals were kept have none
        entries.append(
            (queue_id, name, {media: (goal[0], goal[1]) for media, goal in levels.items()})
        )
    return entries


def _cached() -> list[tuple[str, str]] | None:
    entries = _cached_entries()
    return None if entries is None else [(queue_id, name) for queue_id, name, _ in entries]


def _cache_key() -> str:
    return queues_key(client_fingerprint())


def queue_list() -> list[tuple[str, str]]:
    """(id, name) of every queue, sorted by name; [] (logged) when Genesys or Redis fails, so
    the dashboard still renders."""
    return [(queue_id, name) for queue_id, name, _ in _entries()]


def queue_service_levels_cached() -> dict[str, ServiceLevels] | None:
    """Queue id -> its service-level goal per media type, from the cache only (never asks
    Genesys: a fetch must not spend a request on it); None when not cached or Redis is down."""
    try:
        entries = _cached_entries()
    except redis.RedisError as exc:
        logger.warning("queue list: Redis is unavailable (%s)", type(exc).__name__)
        return None
    return None if entries is None else {queue_id: levels for queue_id, _, levels in entries}


def _entries() -> list[tuple[str, str, ServiceLevels]]:
    try:
        cached = _cached_entries()
    except redis.RedisError as exc:
        logger.warning("queue list: Redis is unavailable (%s)", type(exc).__name__)
        return []
    if cached is not None:
        return cached
    key = _cache_key()
    try:
        queues = queues_fetch()
        ttl = CACHE_SECONDS
    except GenesysError as exc:
        logger.warning("queue list unavailable: %s", exc)
        queues, ttl = [], FAILURE_CACHE_SECONDS
    try:
        get_redis().set(key, orjson.dumps(queues), ex=ttl)
    except redis.RedisError as exc:
        logger.warning("queue list not cached: Redis is unavailable (%s)", type(exc).__name__)
    return queues


def queues_fetch(*, progress: FetchProgress | None = None) -> list[tuple[str, str, ServiceLevels]]:
    """Every queue from Genesys with its service-level goals, sorted by name."""
    queues = {
        entity["id"]: (
            str(entity.get("name") or entity["id"]),
            _service_levels(entity.get("mediaSettings")),
        )
        for entity in entities_fetch(QUEUES_PATH, what="queue list", progress=progress)
    }
    return sorted(
        ((queue_id, name, levels) for queue_id, (name, levels) in queues.items()),
        key=lambda entry: (entry[1].casefold(), entry[0]),
    )


# Queue media settings name voice "call"; conversations' mediaType says "voice".
_MEDIA_OF_SETTING = {"call": "voice"}


def _service_levels(media_settings: Any) -> ServiceLevels:
    """{media: (percentage, durationMs)} of a queue's mediaSettings, where both are numbers."""
    levels: ServiceLevels = {}
    if not isinstance(media_settings, dict):
        return levels
    for media, settings in media_settings.items():
        level = settings.get("serviceLevel") if isinstance(settings, dict) else None
        if not isinstance(level, dict):
            continue
        percentage, duration = level.get("percentage"), level.get("durationMs")
        if isinstance(percentage, int | float) and isinstance(duration, int | float):
            levels[_MEDIA_OF_SETTING.get(media, str(media))] = (float(percentage), int(duration))
    return levels
