"""The logged-in user read from Redis instead of the database, and dropped on every save of it.

CachedModelBackend is ModelBackend (AUTHENTICATION_BACKENDS) whose get_user, the one call a
request makes to load its user, asks Redis first. The copy is the user's whole row, password
hash included: Django checks every request's session against a hash of it (a password change
ends the other sessions), and a copy without it would wipe the password if anything saved it.
The copy carries an HMAC (dashboard.sealed), so write access to Redis cannot make a user staff.

Every save or delete of a user bumps the user's generation in Redis, and a copy read under an
older generation is dead: deactivation, a new password, a staff change take effect on the next
request on every web process. The generation is read before the database, and the copy written
under it, so a read that races a save writes a copy that is already dead. The bump is a signal
receiver (connected in DashboardConfig.ready), the one hook that sees every save, the admin's
and `changepassword`'s included; it runs again after the transaction commits, so a reader
between the two cannot cache the row as it was. QuerySet.update() sends no signal: code that
changes users that way must call user_changed() itself (the product has none).
Redis unreachable at a save: the bump waits in the database (dashboard.revocations).

A session engine that knows whose session it loads reads the copy and the generation in its
own round trip and hands them over with user_copy_prefetched(): get_user then makes none.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any

import orjson
import redis
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models.base import ModelState
from django.http import HttpRequest

from analytics_worker.redis_client import get_redis, user_cache_key, user_generation_key
from dashboard.revocations import Kind, revocation_apply, revocation_pending, revocation_record
from dashboard.sealed import VerifiedCopies, seal

logger = logging.getLogger(__name__)

# A copy outlives no change (each save kills it); this only bounds what idle users leave.
USER_CACHE_SECONDS = 3600
_FIELDS = [field for field in User._meta.concrete_fields]
# The user's copy and generation as the session engine read them for this request: (user id,
# (copy, generation)). Each thread serves one request at a time; the session engine sets or
# clears it on every load, and get_user, which Django calls right after that load, takes it.
_prefetched: ContextVar[tuple[int, tuple[Any, Any]] | None] = ContextVar(
    "user_copy_prefetched", default=None
)


def user_copy_keys(user_id: int) -> tuple[str, str]:
    """The Redis keys get_user reads, in the order user_copy_prefetched() takes their values."""
    return user_cache_key(user_id), user_generation_key(user_id)


def user_copy_prefetched(user_id: int | None, values: tuple[Any, Any] = (None, None)) -> None:
    """The values of user_copy_keys(user_id) just read, for this request's get_user; None
    forgets what an earlier request of this thread left."""
    _prefetched.set(None if user_id is None else (user_id, values))


class CachedModelBackend(ModelBackend):
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None and username is not None and password is not None:
            # Checked and refused: end the chain, or ModelBackend, listed after this one for
            # the sessions it made before, would hash the password a second time.
            raise PermissionDenied
        return user

    def get_user(self, user_id: Any) -> User | None:
        try:
            pk = int(user_id)
        except (TypeError, ValueError):
            return None
        generation: int | None = None
        prefetched = _prefetched.get()
        _prefetched.set(None)
        if not revocation_pending(kind=Kind.USER_CHANGED, name=str(pk)):
            try:
                if prefetched is not None and prefetched[0] == pk:
                    sealed, stored_generation = prefetched[1]
                else:
                    sealed, stored_generation = get_redis().mget(*user_copy_keys(pk))
            except redis.RedisError as exc:
                logger.warning("user cache: Redis unreachable, reading the database: %s", exc)
            else:
                generation = int(stored_generation or 0)
                user = _user_from_copy(sealed, user_id=pk, generation=generation)
                if user is not None:
                    return user if self.user_can_authenticate(user) else None
        found = super().get_user(pk)
        if found is not None and generation is not None:
            _copy_write(found, generation=generation)
        return found


def user_changed(user_id: int) -> None:
    """Kill every cached copy of the user (any save of it calls this)."""
    try:
        revocation_apply(kind=Kind.USER_CHANGED, name=str(user_id))
    except redis.RedisError as exc:
        logger.warning("user cache: Redis unreachable at a user's save: %s", exc)
        revocation_record(kind=Kind.USER_CHANGED, name=str(user_id))


def user_saved(sender: type[User], instance: User, **kwargs: Any) -> None:
    """post_save and post_delete receiver: now, and again once the transaction commits."""
    user_changed(instance.pk)
    transaction.on_commit(lambda: user_changed(instance.pk))


def _copy_write(user: User, *, generation: int) -> None:
    values = {field.attname: field.value_from_object(user) for field in _FIELDS}
    sealed = seal(
        orjson.dumps({"generation": generation, "values": values}), purpose=_seal_purpose(user.pk)
    )
    try:
        get_redis().set(user_cache_key(user.pk), sealed, ex=USER_CACHE_SECONDS)
    except redis.RedisError as exc:
        logger.warning("user cache: Redis unreachable, user not cached: %s", exc)


def _seal_purpose(user_id: int) -> str:
    """The seal names the user: one user's copy moved under another's key does not verify."""
    return f"user.{user_id}"


def _user_from_copy(sealed: bytes | str | None, *, user_id: int, generation: int) -> User | None:
    if sealed is None:
        return None
    try:
        found = _verified.get(
            sealed if isinstance(sealed, bytes) else sealed.encode(), purpose=_seal_purpose(user_id)
        )
    except ValueError as exc:
        logger.warning("user cache: unreadable copy ignored: %s", exc)
        return None
    if found is None:
        logger.warning("user cache: a copy in Redis failed its seal, ignored")
        return None
    copied_generation, verified = found
    if copied_generation != generation:
        return None
    # A request's own instance: it may change it (last_login), the verified one must not change.
    # Its field values, all immutable, shared; a new state. Not copy.copy (Model.__reduce__ and
    # pickling's state) nor Model.from_db (its __init__ and signals): a tenth of the user's load.
    user = User.__new__(User)
    user.__dict__.update(verified.__dict__)
    user._state = ModelState()
    user._state.adding, user._state.db = False, verified._state.db
    return user


def _user_decoded(value: bytes) -> tuple[int, User]:
    """A verified copy's generation and user. Raises ValueError for a copy it cannot read."""
    try:
        stored = orjson.loads(value)
        values = stored["values"]
        user = User.from_db(
            "default",
            [field.attname for field in _FIELDS],
            [field.to_python(values[field.attname]) for field in _FIELDS],
        )
        return int(stored["generation"]), user
    except (orjson.JSONDecodeError, KeyError, TypeError, ValidationError) as exc:
        raise ValueError(f"{type(exc).__name__}: {exc}") from exc


# User copies read from Redis, checked and decoded once per process (dashboard.sealed).
_verified: VerifiedCopies[tuple[int, User]] = VerifiedCopies(_user_decoded)
