"""The session and user copies in Redis carry an HMAC (SECRET_KEY), checked on every read.

Without it, anyone able to write to Redis (which the report cache needs open to every web and
worker process) could make a cached user staff, or forge a session: the copies would be a way
around the database, which is what decides who is logged in. A copy whose seal does not verify
is ignored and the database read instead. Django's salted_hmac, not django.core.signing: the
latter's base64 and JSON round trip cost a tenth of a hit here; a raw digest costs about 10 µs.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from django.utils.crypto import salted_hmac

_DIGEST_BYTES = 32  # SHA-256
T = TypeVar("T")


def seal(value: bytes, *, purpose: str) -> bytes:
    return _digest(value, purpose=purpose) + value


def unseal(sealed: bytes, *, purpose: str) -> bytes | None:
    """The value, or None if the seal does not verify (forged, or another SECRET_KEY's)."""
    digest, value = sealed[:_DIGEST_BYTES], sealed[_DIGEST_BYTES:]
    if len(digest) != _DIGEST_BYTES or not hmac.compare_digest(
        digest, _digest(value, purpose=purpose)
    ):
        return None
    return value


def _digest(value: bytes, *, purpose: str) -> bytes:
    return salted_hmac(f"dashboard.sealed.{purpose}", value, algorithm="sha256").digest()


class VerifiedCopies(Generic[T]):
    """Sealed copies this process has verified and decoded, by the exact bytes read from Redis.

    A cached hit reads the same session and user copies on every request: checking their seal
    and decoding them again was a tenth of its time. The bytes are still read from Redis on
    every request, so whatever ends a copy there (a tombstone, a new generation, a new copy) is
    seen as before; only bytes already verified under the same purpose skip the work. `decode`
    turns the verified value into T, or raises ValueError (then nothing is kept). Callers must
    not change a T they are given: hand out copies where a request may (sessions, users)."""

    def __init__(self, decode: Callable[[bytes], T], *, max_size: int = 4096) -> None:
        self.decode = decode
        self.max_size = max_size
        self.lock = threading.Lock()
        self.values: dict[tuple[str, bytes], T] = {}

    def get(self, sealed: bytes, *, purpose: str) -> T | None:
        """The decoded value, or None if the seal does not verify. Raises ValueError from
        decode."""
        key = (purpose, sealed)
        found = self.values.get(key)
        if found is not None:
            return found
        value = unseal(sealed, purpose=purpose)
        if value is None:
            return None
        found = self.decode(value)
        with self.lock:
            if len(self.values) >= self.max_size:
                self.values.pop(next(iter(self.values)))  # the oldest: a dict keeps order
            self.values[key] = found
        return found
