"""Revocations that Redis missed: a logout, a changed session or a saved user while Redis was
unreachable leaves a copy there that must never be trusted again once Redis is back.

Such a revocation is written to the database (PendingRevocation), which every web process can
read while Redis cannot. Each process keeps the set of pending ones and reads it again at most
every CACHE_REVOCATION_POLL_SECONDS (one small query, not one a request); a copy named in it is
ignored (the database answers instead). The first process that reads the set with Redis
reachable applies each revocation to Redis and deletes the rows, so the set empties again.

The bound this leaves: a process that did not itself fail to reach Redis learns of a pending
revocation within CACHE_REVOCATION_POLL_SECONDS of its writing. Until Redis is back no process
trusts Redis anyway (it does not answer), so the window is only that of an outage shorter than
the poll.
"""

from __future__ import annotations

import logging
import threading
import time

import redis
from django.conf import settings

from analytics_worker.redis_client import (
    get_redis,
    session_cache_key,
    user_generation_key,
)
from dashboard.models import PendingRevocation

logger = logging.getLogger(__name__)

Kind = PendingRevocation.Kind

# What a revoked session's key holds in Redis, so a request that read the session from the
# database just before the logout cannot put it back (its write is SET NX). Kept as long as
# such a request could take; the cookie of a revoked session then finds nothing in the database.
SESSION_TOMBSTONE = b"revoked"
SESSION_TOMBSTONE_SECONDS = 300


class _Pending:
    """This process's copy of the pending revocations: (kind, name) pairs."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.names: frozenset[tuple[str, str]] = frozenset()
        self.read_at = float("-inf")

    def reset(self) -> None:
        """Forget the copy (as a process that has not read it yet): the next check reads it."""
        with self.lock:
            self.names = frozenset()
            self.read_at = float("-inf")


_pending = _Pending()


def revocation_pending(*, kind: str, name: str) -> bool:
    """Whether a revocation of that copy waits to reach Redis: then do not trust the copy."""
    if time.monotonic() - _pending.read_at >= settings.CACHE_REVOCATION_POLL_SECONDS:
        _pending_reread()
    return (kind, name) in _pending.names


def revocation_record(*, kind: str, name: str) -> None:
    """Redis could not be told: keep the revocation in the database until it can be."""
    PendingRevocation.objects.create(kind=kind, name=name)
    with _pending.lock:
        _pending.names = _pending.names | {(kind, name)}
    logger.warning("Redis unreachable: %s kept in the database until it is back", kind)


def revocation_apply(*, kind: str, name: str) -> None:
    """Apply one revocation to Redis. Raises redis.RedisError."""
    client = get_redis()
    if kind == Kind.SESSION_REVOKED:
        client.set(session_cache_key(name), SESSION_TOMBSTONE, ex=SESSION_TOMBSTONE_SECONDS)
    elif kind == Kind.SESSION_CHANGED:
        client.delete(session_cache_key(name))
    elif kind == Kind.USER_CHANGED:
        client.incr(user_generation_key(int(name)))
    else:
        raise ValueError(f"unknown revocation {kind!r}")


def _pending_reread() -> None:
    """Read the pending revocations; with Redis reachable, apply them and delete their rows."""
    with _pending.lock:
        if time.monotonic() - _pending.read_at < settings.CACHE_REVOCATION_POLL_SECONDS:
            return  # another thread has just read them
        rows = list(PendingRevocation.objects.values_list("id", "kind", "name"))
        applied: list[int] = []
        try:
            for row_id, kind, name in rows:
                revocation_apply(kind=kind, name=name)
                applied.append(row_id)
        except redis.RedisError:
            pass  # still unreachable: the rows wait, and their copies stay ignored
        if applied:
            PendingRevocation.objects.filter(id__in=applied).delete()
            logger.info("applied %d revocations kept while Redis was unreachable", len(applied))
        applied_set = set(applied)
        _pending.names = frozenset(
            (kind, name) for row_id, kind, name in rows if row_id not in applied_set
        )
        _pending.read_at = time.monotonic()
