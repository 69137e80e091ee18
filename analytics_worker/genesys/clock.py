"""Time for the Genesys client: every sleep and every wall-clock read goes through here.

One place, so tests can swap in a fake clock (patch `clock.sleep` and `clock.now`) and no test
really waits out a Retry-After. Callers must use `clock.sleep(...)`, never `from ... import sleep`,
or the patch would not reach them.
"""

from __future__ import annotations

import time
from datetime import UTC
from email.utils import parsedate_to_datetime


def sleep(seconds: float) -> None:
    time.sleep(seconds)


def now() -> float:
    # Wall-clock time, not monotonic: the rate limiter's timestamps are shared through Redis by
    # workers on several hosts (kept in step by NTP; the limiter's safety margin absorbs the skew).
    return time.time()


def retry_after_seconds(value: str | None, *, now: float) -> float | None:
    """Parse a Retry-After header: delay-seconds ("12") or an HTTP date. None if absent or bad."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:  # "-0000" parses naive; HTTP dates are always GMT anyway
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, moment.timestamp() - now)
