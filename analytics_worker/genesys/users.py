"""The org's users (GET /api/v2/users): agents' names for the agent breakdown and the
drill-down. Cached in Redis for every web process and worker like the queue list; a worker
loads it (services.user_names asks for that), a page never waits on it.
"""

from __future__ import annotations

import logging

import orjson
import redis

from analytics_worker.genesys.auth import client_fingerprint
from analytics_worker.genesys.entities import entities_fetch
from analytics_worker.genesys.errors import GenesysError
from analytics_worker.genesys.http import FetchProgress
from analytics_worker.redis_client import get_redis, users_key

logger = logging.getLogger(__name__)

USERS_PATH = "/api/v2/users"
# People join and leave more often than queues change; an hour old is still right for names.
CACHE_SECONDS = 3600
FAILURE_CACHE_SECONDS = 60


def user_names_cached() -> dict[str, str] | None:
    """User id -> name from the cache, or None when not cached (or Redis is down)."""
    try:
        cached = get_redis().get(users_key(client_fingerprint()))
    except redis.RedisError as exc:
        logger.warning("user names: Redis is unavailable (%s)", type(exc).__name__)
        return None
    return None if cached is None else dict(orjson.loads(cached))


def user_names_load(*, progress: FetchProgress | None = None) -> int:
    """Fetch every user's name from Genesys into the cache; how many. A failure is logged and
    cached as an empty list for a minute, so an outage costs one attempt a minute."""
    try:
        names = users_fetch(progress=progress)
        ttl = CACHE_SECONDS
    except GenesysError as exc:
        logger.warning("user names unavailable: %s", exc)
        names, ttl = {}, FAILURE_CACHE_SECONDS
    try:
        get_redis().set(users_key(client_fingerprint()), orjson.dumps(names), ex=ttl)
    except redis.RedisError as exc:
        logger.warning("user names not cached: Redis is unavailable (%s)", type(exc).__name__)
    return len(names)


def users_fetch(*, progress: FetchProgress | None = None) -> dict[str, str]:
    """Every user's id -> name (the id where a user has no name)."""
    return {
        entity["id"]: str(entity.get("name") or entity["id"])
        for entity in entities_fetch(USERS_PATH, what="user list", progress=progress)
    }
