"""The session engine (SESSION_ENGINE): sessions read from Redis, kept in the database, and
revocable whether Redis answers or not.

Every write goes to the database first, then to Redis; a read asks Redis and falls back to the
database. A cached hit then loads its session without a database round trip (a fifth of a hit's
time before, docs/PERFORMANCE.md), and the database stays the truth: Redis down, every session
still loads, saves and ends there.

Why not Django's `cached_db`, which has the same shape:
- its read fails the request when Redis is down and the session is not in the cache (the write
  back to the cache after the database read is not guarded), so no page loads while Redis is
  down, against the architecture's "degrade, not fail";
- a logout while Redis is unreachable deletes the database row but leaves the cached copy,
  which is valid again once Redis answers: the stolen cookie of a logged-out session works
  again. Here a revocation Redis missed is kept in the database and honoured by every web
  process until it reaches Redis (dashboard.revocations);
- a request that read the session from the database just before a logout writes it back to
  the cache after the logout deleted it. Here a logout leaves a tombstone, and the write back
  is SET NX.
The user is cached the same way, by dashboard.user_cache (the authentication backend). A
session's user never changes (Django gives a session a new key at every login), so once a
process has seen whose session a key is, the session, the user's copy and its generation come
in one MGET: a cached hit's login costs one round trip to Redis, not two.
"""

from __future__ import annotations

import copy
import logging
import threading
from typing import Any, TypeVar, cast

import redis
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.http import HttpRequest
from django.utils import timezone
from django.utils.module_loading import import_string

from analytics_worker.redis_client import Read, get_redis, read_run, reads_run, session_cache_key
from dashboard.revocations import (
    SESSION_TOMBSTONE,
    Kind,
    revocation_apply,
    revocation_pending,
    revocation_record,
)
from dashboard.sealed import VerifiedCopies, seal
from dashboard.user_cache import user_copy_keys, user_copy_prefetched

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Sessions whose user this process remembers; past it, the oldest is forgotten (and costs the
# second round trip again on its next request).
SESSION_USERS_MAX = 10_000


class _SessionUsers:
    """Session key -> user id, as this process has read them. Knowing one grants nothing: the
    session and the user are still read, and checked, on every request."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users: dict[str, int] = {}

    def get(self, session_key: str) -> int | None:
        return self.users.get(session_key)

    def remember(self, session_key: str, data: dict[str, Any]) -> None:
        user_id = data.get(SESSION_KEY)
        if not isinstance(user_id, str) or not user_id.isdigit() or session_key in self.users:
            return
        with self.lock:
            if len(self.users) >= SESSION_USERS_MAX:
                self.users.pop(next(iter(self.users)))
            self.users[session_key] = int(user_id)

    def forget(self, session_key: str) -> None:
        with self.lock:
            self.users.pop(session_key, None)


_session_users = _SessionUsers()
# Session copies read from Redis, checked and decoded once per process (dashboard.sealed).
_verified: VerifiedCopies[dict[str, Any]] = VerifiedCopies(
    lambda value: cast(dict[str, Any], import_string(settings.SESSION_SERIALIZER)().loads(value))
)


def session_user_id(request: HttpRequest) -> int | None:
    """Whose the request's session is, if this process has seen it (no Redis read)."""
    key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    return _session_users.get(key) if key else None


def session_load_with(request: HttpRequest, read: Read[T]) -> T:
    """`read`, sent in the same round trip as the loading of the request's session (and of its
    user's copy) when it is not loaded yet. A cached hit then costs one round trip to Redis
    where it took two; under load it is the round trips, not the commands, that a hit waits
    on. Raises redis.RedisError; the session then loads as usual when first used."""
    store = getattr(request, "session", None)
    if isinstance(store, SessionStore):
        return store.load_with(read)
    return read_run(read)


def _own_copy(data: dict[str, Any]) -> dict[str, Any]:
    """A request's own session data: it may change it, the verified copy must not change."""
    nested = any(isinstance(value, dict | list) for value in data.values())
    return copy.deepcopy(data) if nested else dict(data)


def _seal_purpose(session_key: str) -> str:
    """The seal names the session: one session's copy moved under another's key (a staff
    member's under one's own cookie) does not verify."""
    return f"session.{session_key}"


class SessionStore(DatabaseSessionStore):
    def load(self) -> dict[str, Any]:
        user_copy_prefetched(None)
        read = self._copy_read()
        if read is None:
            return self._database_load(reachable=False)
        try:
            found = read_run(read)
        except redis.RedisError as exc:
            logger.warning("sessions: Redis unreachable, reading the database: %s", exc)
            return self._database_load(reachable=False)
        return found if found is not None else self._database_load(reachable=True)

    def load_with(self, read: Read[T]) -> T:
        """`read`, in the round trip that loads this session if it is not loaded yet (see
        session_load_with). Raises redis.RedisError, the session left to load when used."""
        copy_read = None if hasattr(self, "_session_cache") else self._copy_read()
        if copy_read is None:
            return read_run(read)
        user_copy_prefetched(None)
        copy_replies, replies = reads_run([copy_read, read])
        found = copy_read.parse(copy_replies)
        self._session_cache = found if found is not None else self._database_load(reachable=True)
        return read.parse(replies)

    def _copy_read(self) -> Read[dict[str, Any] | None] | None:
        """The read of this session's copy in Redis, and of its user's when this process knows
        whose session it is; None when no copy may be trusted (no key, a revocation pending).
        It reads as the session's data, {} for a revoked session, None for no usable copy."""
        key = self.session_key
        if key is None or any(
            revocation_pending(kind=kind, name=key)
            for kind in (Kind.SESSION_REVOKED, Kind.SESSION_CHANGED)
        ):
            return None
        user_id = _session_users.get(key)
        keys = [session_cache_key(key), *(user_copy_keys(user_id) if user_id is not None else ())]

        def parse(replies: list[Any]) -> dict[str, Any] | None:
            stored, *user_copy = replies[0]
            if stored == SESSION_TOMBSTONE:
                _session_users.forget(key)
                self._session_key = None
                return {}
            if isinstance(stored, str):
                stored = stored.encode()
            verified = _verified.get(stored, purpose=_seal_purpose(key)) if stored else None
            if verified is None:
                if stored is not None:
                    logger.warning("sessions: a copy in Redis failed its seal, ignored")
                return None
            data = _own_copy(verified)
            if user_id is None:
                _session_users.remember(key, data)
            elif data.get(SESSION_KEY) == str(user_id):
                user_copy_prefetched(user_id, (user_copy[0], user_copy[1]))
            return data

        return Read(commands=(("MGET", *keys),), parse=parse)

    def _database_load(self, *, reachable: bool) -> dict[str, Any]:
        """The session from the database; `reachable`: Redis answered, so copy it there."""
        # The db backend's own read (not in django-stubs): the row, or None if absent or expired.
        row = self._get_session_from_db()  # type: ignore[attr-defined]
        if row is None:
            self._session_key = None
            return {}
        data = self.decode(row.session_data)
        if reachable:
            self._cache_write(data, expires=row.expire_date, only_new=True)
        return data

    def save(self, must_create: bool = False) -> None:
        super().save(must_create=must_create)  # the database first: it is the truth
        key = self.session_key
        assert key is not None
        # What the db backend's save stores (_get_session: not in django-stubs).
        data = self._get_session(no_load=must_create)  # type: ignore[attr-defined]
        if not self._cache_write(data, expires=self.get_expiry_date(), only_new=False):
            # A new session has no older copy in Redis; a changed one has, which must go.
            if not must_create:
                revocation_record(kind=Kind.SESSION_CHANGED, name=key)

    def delete(self, session_key: str | None = None) -> None:
        key = session_key if session_key is not None else self.session_key
        super().delete(session_key)
        if key is None:
            return
        try:
            revocation_apply(kind=Kind.SESSION_REVOKED, name=key)
        except redis.RedisError as exc:
            logger.warning("sessions: Redis unreachable at logout: %s", exc)
            revocation_record(kind=Kind.SESSION_REVOKED, name=key)

    def _cache_write(self, data: dict[str, Any], *, expires: Any, only_new: bool) -> bool:
        """Put the session's data in Redis until it expires; False if Redis did not answer.
        `only_new`: never over a tombstone or a newer copy (a write back after a read).

        The data as the session serializer writes it (JSON) under an HMAC (dashboard.sealed),
        not in the database's signed form, whose base64 and decoding cost more."""
        assert self.session_key is not None
        seconds = int((expires - timezone.now()).total_seconds())
        if seconds <= 0:
            return True
        try:
            get_redis().set(
                session_cache_key(self.session_key),
                seal(self.serializer().dumps(data), purpose=_seal_purpose(self.session_key)),
                ex=seconds,
                nx=only_new,
            )
        except redis.RedisError as exc:
            logger.warning("sessions: Redis unreachable, kept in the database only: %s", exc)
            return False
        return True
