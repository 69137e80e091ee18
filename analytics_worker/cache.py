"""Redis: report results, job status, single-flight locks and freshness.

Keys (named in redis_client, all under its KEY_PREFIX, which carries the schema version):
- `result:<report key>`: hash {payload: JSON bytes, fresh_until: epoch s, as_of: epoch s}, with
  the report's TTL. A hit is one round trip (result_lookup: the reader's read counted, the hash
  read, the outcome counted), and the payload goes to the client as it is.
- `lock:<report key>`: the id of the one job fetching that report (SET NX, with expiry).
- `job:<job id>`: hash of the job's progress, for the page to poll.
- `error:<report key>`: the last failure of that report, for the page and the admin.
Every Redis failure surfaces as CacheUnavailable, so callers can degrade instead of crashing.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, cast

import orjson
import redis

from analytics_worker.redis_client import (
    as_text,
    get_redis,
    job_key,
    lock_key,
    metric_field,
    metrics_key,
    report_error_key,
    result_key,
    throttle_key,
)

TERMINAL_STATES = ("done", "failed")
# Long enough for a page to read a finished job's outcome, short enough not to pile up.
JOB_TTL_SECONDS = 24 * 3600
REPORT_ERROR_TTL_SECONDS = 24 * 3600

# Delete the lock only if it still names this job: after an expiry another job may own it.
_RELEASE_LOCK = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class CacheUnavailable(Exception):
    """Redis did not answer; the message is safe to show."""


class ReadLimitReached(Exception):
    """The reader passed their cap of reads in the window; nothing was read."""


@dataclass(frozen=True)
class Throttle:
    """At most `limit` events per fixed window of `window_seconds`, counted under `name`."""

    name: str
    limit: int
    window_seconds: int

    def counter_key(self, *, now: float) -> str:
        return throttle_key(self.name, int(now // self.window_seconds))


@contextmanager
def _redis_errors() -> Iterator[None]:
    try:
        yield
    except redis.RedisError as exc:
        raise CacheUnavailable(
            f"The report cache (Redis) is unavailable: {exc.__class__.__name__}"
        ) from exc


@dataclass(frozen=True)
class CachedReport:
    payload: bytes  # the JSON document, ready to send
    fresh_until: float
    as_of: float

    def is_fresh(self, *, now: float) -> bool:
        return now < self.fresh_until


LookupOutcome = Literal["fresh", "stale", "miss"]
LOOKUP_METRIC = "gad_cache_lookups_total"

# A dashboard read in one round trip, where three (the reader's counter, the HMGET, the metric)
# were two thirds of a cached hit's Redis time (bench 1). The script counts and classifies; the
# payload is read beside it in the same MULTI, since passing 100 KB through Lua costs more than
# the round trips saved. KEYS: the result hash, the metrics hash, optionally the reader's
# throttle counter. ARGV: now, force (1 or 0), the metric fields for fresh, stale and miss, and
# with a counter its limit and TTL. Returns false over the cap, else {outcome, fresh_until, as_of}.
_RESULT_LOOKUP = """
if KEYS[3] then
  local reads = redis.call('incr', KEYS[3])
  redis.call('expire', KEYS[3], ARGV[7])
  if reads > tonumber(ARGV[6]) then return false end
end
local found = redis.call('hmget', KEYS[1], 'fresh_until', 'as_of')
local outcome, field = 'miss', ARGV[5]
if found[1] and found[2] then
  outcome, field = 'stale', ARGV[4]
  if ARGV[2] == '0' and tonumber(ARGV[1]) < tonumber(found[1]) then
    outcome, field = 'fresh', ARGV[3]
  end
end
redis.call('hincrbyfloat', KEYS[2], field, 1)
return {outcome, found[1], found[2]}
"""
_RESULT_LOOKUP_SHA = hashlib.sha1(_RESULT_LOOKUP.encode()).hexdigest()
_LOOKUP_FIELDS = [metric_field(LOOKUP_METRIC, outcome=name) for name in ("fresh", "stale", "miss")]


def result_lookup(
    *, report_key: str, now: float, force: bool = False, read_cap: Throttle | None = None
) -> tuple[LookupOutcome, CachedReport | None]:
    """The cached result and whether it is fresh at `now` (never, with `force`), counted in
    gad_cache_lookups_total. With `read_cap`, the read counts against it first: past the cap,
    ReadLimitReached, and the read is not counted as a lookup."""
    result = result_key(report_key)
    keys = [result, metrics_key()]
    args: list[str | float | int] = [repr(now), int(force), *_LOOKUP_FIELDS]
    if read_cap is not None:
        keys.append(read_cap.counter_key(now=now))
        args += [read_cap.limit, read_cap.window_seconds + 1]

    def attempt() -> list[Any]:
        pipe = get_redis().pipeline(transaction=True)
        pipe.evalsha(_RESULT_LOOKUP_SHA, len(keys), *keys, *args)
        pipe.hget(result, "payload")
        return cast(list[Any], pipe.execute())

    with _redis_errors():
        try:
            counted, payload = attempt()
        except redis.exceptions.NoScriptError:  # a new or restarted Redis: load it, once
            get_redis().script_load(_RESULT_LOOKUP)
            counted, payload = attempt()
    if counted is None:
        assert read_cap is not None  # only a capped read is refused
        raise ReadLimitReached(f"More than {read_cap.limit} reads in {read_cap.window_seconds} s")
    outcome, fresh_until, as_of = counted
    if payload is None or fresh_until is None or as_of is None:
        return "miss", None
    cached = CachedReport(payload=payload, fresh_until=float(fresh_until), as_of=float(as_of))
    return cast(LookupOutcome, as_text(outcome)), cached


def result_get(*, report_key: str) -> CachedReport | None:
    with _redis_errors():
        payload, fresh_until, as_of = get_redis().hmget(
            result_key(report_key), "payload", "fresh_until", "as_of"
        )
    if payload is None or fresh_until is None or as_of is None:
        return None
    payload = payload if isinstance(payload, bytes) else payload.encode()
    return CachedReport(payload=payload, fresh_until=float(fresh_until), as_of=float(as_of))


def result_put(
    *, report_key: str, payload: bytes, as_of: float, fresh_seconds: int, ttl_seconds: int
) -> None:
    """Replace the result in one MULTI, so a reader sees the old result or the new, never half."""
    key = result_key(report_key)
    with _redis_errors():
        pipe = get_redis().pipeline(transaction=True)
        pipe.delete(key)
        pipe.hset(
            key,
            mapping={"payload": payload, "fresh_until": as_of + fresh_seconds, "as_of": as_of},
        )
        pipe.expire(key, ttl_seconds)
        pipe.delete(report_error_key(report_key))
        pipe.execute()


# Only touch a result that still exists: HSET on an expired key would create a stub without TTL.
_MARK_STALE = """
if redis.call('exists', KEYS[1]) == 1 then return redis.call('hset', KEYS[1], 'fresh_until', 0) end
return 0
"""


def result_mark_stale(*, report_key: str) -> None:
    """Make the next read of a cached result stale, so it is served while a refresh runs."""
    with _redis_errors():
        get_redis().eval(_MARK_STALE, 1, result_key(report_key))


def lock_acquire(*, report_key: str, job_id: str, ttl_seconds: int) -> bool:
    with _redis_errors():
        return bool(get_redis().set(lock_key(report_key), job_id, nx=True, ex=ttl_seconds))


def lock_holder(*, report_key: str) -> str | None:
    with _redis_errors():
        value = get_redis().get(lock_key(report_key))
    return as_text(value) if value is not None else None


def lock_release(*, report_key: str, job_id: str) -> None:
    with _redis_errors():
        get_redis().eval(_RELEASE_LOCK, 1, lock_key(report_key), job_id)


def lock_report_keys() -> Iterator[str]:
    prefix = lock_key("")
    with _redis_errors():
        for key in get_redis().scan_iter(match=prefix + "*", count=500):
            yield as_text(key)[len(prefix) :]


def job_create(*, job_id: str, report_key: str, spec: dict[str, Any]) -> None:
    now = time.time()
    with _redis_errors():
        pipe = get_redis().pipeline(transaction=True)
        pipe.hset(
            job_key(job_id),
            mapping={
                "state": "queued",
                "report_key": report_key,
                "spec": orjson.dumps(spec),
                "created_at": now,
                "updated_at": now,
            },
        )
        pipe.expire(job_key(job_id), JOB_TTL_SECONDS)
        pipe.execute()


def job_delete(*, job_id: str) -> None:
    """Forget a job that never started (its requester lost the race for the lock)."""
    with _redis_errors():
        get_redis().delete(job_key(job_id))


def job_update(*, job_id: str, **fields: str | int | float) -> None:
    fields["updated_at"] = time.time()
    with _redis_errors():
        pipe = get_redis().pipeline(transaction=True)
        pipe.hset(job_key(job_id), mapping=cast(Any, fields))
        pipe.expire(job_key(job_id), JOB_TTL_SECONDS)
        pipe.execute()


def job_get(*, job_id: str) -> dict[str, str] | None:
    with _redis_errors():
        raw = get_redis().hgetall(job_key(job_id))
    if not raw:
        return None
    return {as_text(k): as_text(v) for k, v in raw.items()}


def report_error_put(*, report_key: str, message: str, at: float) -> None:
    with _redis_errors():
        get_redis().set(
            report_error_key(report_key),
            orjson.dumps({"message": message, "at": at}),
            ex=REPORT_ERROR_TTL_SECONDS,
        )


def report_error_get(*, report_key: str) -> dict[str, Any] | None:
    with _redis_errors():
        raw = get_redis().get(report_error_key(report_key))
    return orjson.loads(raw) if raw else None


def throttle_hit(*, name: str, limit: int, window_seconds: int) -> bool:
    """Count one event in a fixed window; False once `limit` is passed (cooldowns, per-user caps)."""
    key = Throttle(name, limit, window_seconds).counter_key(now=time.time())
    with _redis_errors():
        pipe = get_redis().pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, window_seconds + 1)
        count, _ = pipe.execute()
    return int(count) <= limit
