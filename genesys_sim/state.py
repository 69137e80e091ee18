"""The simulator's shared state in Redis: request counters, rate-limit windows, queued faults.

Redis rather than process memory, because several server processes may serve the simulated org
and they must share one rate-limit budget and one fault queue. Tests patch `redis_client`.
"""

from __future__ import annotations

import math
import time
from functools import lru_cache

import redis
from django.conf import settings

from genesys_sim.faults import Fault, parse_fault, parse_faults

PREFIX = "genesys_sim:"
STATS_KEY = f"{PREFIX}stats"
FAULTS_KEY = f"{PREFIX}faults"
# Set once GENESYS_SIM_FAULTS has been queued, so each configured fault fires once in total,
# not once per process.
FAULTS_SEEDED_KEY = f"{PREFIX}faults:seeded"
RATE_PREFIX = f"{PREFIX}rate:"
WINDOW_SECONDS = 60


@lru_cache(maxsize=4)
def _client_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def redis_client() -> redis.Redis:
    return _client_for(settings.GENESYS_SIM_REDIS_URL)


# --- request counters ---------------------------------------------------------------------------


def request_record(*, status: int, client_id: str | None) -> None:
    """Count one API request and the status it was answered with."""
    pipe = redis_client().pipeline(transaction=False)
    pipe.hincrby(STATS_KEY, "requests", 1)
    pipe.hincrby(STATS_KEY, f"status:{status}", 1)
    if client_id:
        pipe.hincrby(STATS_KEY, f"client:{client_id}", 1)
    pipe.execute()


def token_request_record(*, status: int) -> None:
    redis_client().hincrby(STATS_KEY, f"token:{status}", 1)


def stats_read() -> dict:
    raw = {_text(k): int(v) for k, v in redis_client().hgetall(STATS_KEY).items()}

    def group(prefix: str) -> dict[str, int]:
        return {k.removeprefix(prefix): v for k, v in sorted(raw.items()) if k.startswith(prefix)}

    return {
        "requests": raw.get("requests", 0),
        "by_status": group("status:"),
        "by_client": group("client:"),
        "token_requests": group("token:"),
    }


# --- rate limit ---------------------------------------------------------------------------------


def rate_limit_check(*, client_id: str) -> int | None:
    """Spend one request of the client's budget; None if allowed, else seconds to wait.

    A fixed one-minute window: simple, shared by every process, and the wait is exact (until the
    window turns). Requests answered 429 still count, as they do at Genesys.
    """
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    key = f"{RATE_PREFIX}{client_id}:{window}"
    pipe = redis_client().pipeline(transaction=False)
    pipe.incr(key)
    pipe.expire(key, 2 * WINDOW_SECONDS)
    used, _ = pipe.execute()
    if used <= settings.GENESYS_SIM_RATE_LIMIT_PER_MINUTE:
        return None
    return max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))


# --- fault queue --------------------------------------------------------------------------------


def _queue_configured_faults(client: redis.Redis) -> None:
    spec = settings.GENESYS_SIM_FAULTS
    if spec and client.set(FAULTS_SEEDED_KEY, spec, nx=True):
        faults = parse_faults(spec)
        if faults:
            client.rpush(FAULTS_KEY, *(str(f) for f in faults))


def fault_pop() -> Fault | None:
    """Take the next queued fault, if any: each API request takes one."""
    client = redis_client()
    _queue_configured_faults(client)
    raw = client.lpop(FAULTS_KEY)
    return parse_fault(_text(raw)) if isinstance(raw, bytes | str) else None


def faults_replace(faults: list[Fault]) -> None:
    client = redis_client()
    _queue_configured_faults(client)
    pipe = client.pipeline()
    pipe.delete(FAULTS_KEY)
    if faults:
        pipe.rpush(FAULTS_KEY, *(str(f) for f in faults))
    pipe.execute()


def faults_pending() -> list[str]:
    client = redis_client()
    _queue_configured_faults(client)
    return [_text(raw) for raw in client.lrange(FAULTS_KEY, 0, -1)]


# --- reset --------------------------------------------------------------------------------------


def state_reset() -> None:
    """Back to a fresh start: no counts, full rate budgets, and GENESYS_SIM_FAULTS queued again."""
    client = redis_client()
    keys = [STATS_KEY, FAULTS_KEY, FAULTS_SEEDED_KEY]
    keys.extend(client.scan_iter(match=f"{RATE_PREFIX}*", count=500))
    client.delete(*keys)
