"""The org's routing queues (GET /api/v2/routing/queues), for queue names in the filter form and
tables. Cached in Redis for all web processes and workers, since queues change rarely.
"""

from __future__ import annotations

import logging

import orjson
import redis

from analytics_worker.genesys.auth import client_fingerprint
from analytics_worker.genesys.errors import GenesysError, GenesysProtocolError
from analytics_worker.genesys.http import FetchProgress, genesys_request
from analytics_worker.redis_client import get_redis, queues_key

logger = logging.getLogger(__name__)

QUEUES_PATH = "/api/v2/routing/queues"
PAGE_SIZE = 100
MAX_PAGES = 1000
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


def _cached() -> list[tuple[str, str]] | None:
    cached = get_redis().get(_cache_key())
    if cached is None:
        return None
    return [(queue_id, name) for queue_id, name in orjson.loads(cached)]


def _cache_key() -> str:
    return queues_key(client_fingerprint())


def queue_list() -> list[tuple[str, str]]:
    """(id, name) of every queue, sorted by name; [] (logged) when Genesys or Redis fails, so
    the dashboard still renders."""
    try:
        cached = _cached()
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


def queues_fetch(*, progress: FetchProgress | None = None) -> list[tuple[str, str]]:
    """Every queue from Genesys, page by page (pageSize/pageNumber until pageCount)."""
    queues: dict[str, str] = {}
    page_number = 1
    while True:
        body = genesys_request(
            "GET",
            QUEUES_PATH,
            params={"pageSize": PAGE_SIZE, "pageNumber": page_number},
            progress=progress,
        )
        entities = body.get("entities") if isinstance(body, dict) else None
        if not isinstance(entities, list):
            raise GenesysProtocolError(
                "The queue list answered without entities: check that GENESYS_API_URL points at "
                "Genesys Cloud"
            )
        for entity in entities:
            if isinstance(entity, dict) and isinstance(entity.get("id"), str):
                queues[entity["id"]] = str(entity.get("name") or entity["id"])
        page_count = body.get("pageCount")
        if not entities or not isinstance(page_count, int) or page_number >= page_count:
            break
        if page_number >= MAX_PAGES:
            raise GenesysProtocolError(
                f"The queue list still had pages after {MAX_PAGES:,}; stopped reading it"
            )
        page_number += 1
    return sorted(queues.items(), key=lambda item: (item[1].casefold(), item[0]))
