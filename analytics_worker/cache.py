"""Redis: report results, job status, single-flight locks and freshness.

Keys (named in redis_client, all under its KEY_PREFIX, which carries the schema version):
- `result:<report key>`: hash {payload_deflated, payload_crc32, payload_size: the JSON document
  compressed once (payload_gzip), fresh_until: epoch s, as_of: epoch s}, with the report's TTL.
  A hit is one round trip (result_lookup: the reader's read counted, the hash read, the outcome
  counted), and the payload goes to a client that accepts gzip as it is.
- `lock:<report key>`: the id of the one job fetching that report (SET NX, with expiry).
- `job:<job id>`: hash of the job's progress, for the page to poll.
- `error:<report key>`: the last failure of that report, for the page and the admin.
- `cost:<report key>`: the requests its last finished fetch took (services' cost of a refetch).
- `budget:<name>`: when a user's fetches stop owing requests (fetch_budget_charge).
Every Redis failure surfaces as CacheUnavailable, so callers can degrade instead of crashing.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, cast

import orjson
import redis

from analytics_worker.payload_gzip import DeflatedPayload
from analytics_worker.redis_client import (
    Command,
    Read,
    as_text,
    fetch_budget_key,
    fetch_cost_key,
    get_redis,
    job_key,
    lock_key,
    metric_field,
    metrics_key,
    read_run,
    report_error_key,
    result_key,
    series_latest_key,
    throttle_key,
)

TERMINAL_STATES = ("done", "failed")
# A worker has the job and reports its progress; a queued job waits for one.
RUNNING_STATES = ("fetching", "waiting")
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


class CachedReport:
    """A cached result: its times, and its payload (the JSON document) as stored, deflated
    (payload_gzip). `payload` is the JSON, inflated on first use; `deflated` goes to a client
    that accepts gzip as it is. Built from either form; equal when payload and times are."""

    def __init__(
        self,
        *,
        fresh_until: float,
        as_of: float,
        payload: bytes | None = None,
        deflated: DeflatedPayload | None = None,
    ) -> None:
        assert (payload is None) != (deflated is None), "one form of the payload"
        self.fresh_until = fresh_until
        self.as_of = as_of
        self._payload = payload
        self._deflated = deflated

    @property
    def payload(self) -> bytes:
        if self._payload is None:
            assert self._deflated is not None
            self._payload = self._deflated.inflate()
        return self._payload

    @property
    def deflated(self) -> DeflatedPayload:
        if self._deflated is None:
            self._deflated = DeflatedPayload.of(self.payload)
        return self._deflated

    def is_fresh(self, *, now: float) -> bool:
        return now < self.fresh_until

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CachedReport):
            return NotImplemented
        return (self.payload, self.fresh_until, self.as_of) == (
            other.payload,
            other.fresh_until,
            other.as_of,
        )

    def __repr__(self) -> str:
        return f"CachedReport(as_of={self.as_of!r}, fresh_until={self.fresh_until!r})"


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
    with _redis_errors():
        return read_run(
            result_lookup_read(report_key=report_key, now=now, force=force, read_cap=read_cap)
        )


def result_lookup_read(
    *, report_key: str, now: float, force: bool = False, read_cap: Throttle | None = None
) -> Read[tuple[LookupOutcome, CachedReport | None]]:
    """result_lookup as a Read, to share a round trip (redis_client.reads_run); its parse
    raises ReadLimitReached past the cap."""

    def parse(replies: list[Any]) -> tuple[LookupOutcome, CachedReport | None]:
        outcome, version = _lookup_parse(replies[0], read_cap=read_cap)
        payload = _deflated_payload(replies[1])
        if version is None or payload is None:
            return "miss", None
        return outcome, CachedReport(
            deflated=payload, fresh_until=version.fresh_until, as_of=version.as_of
        )

    lookup = _lookup_command(report_key=report_key, now=now, force=force, read_cap=read_cap)
    payload = ("HMGET", result_key(report_key), *_PAYLOAD_FIELDS)
    return Read(commands=(lookup, payload), parse=parse, scripts=(_RESULT_LOOKUP,))


@dataclass(frozen=True)
class ResultVersion:
    """Which result is cached (as_of) and until when it is fresh, without its payload."""

    as_of: float
    fresh_until: float


def result_check(
    *, report_key: str, now: float, read_cap: Throttle | None = None
) -> tuple[LookupOutcome, ResultVersion | None]:
    """result_lookup without the payload: the same counted read in one round trip of a few
    bytes, for a poller that already holds the payload (a conditional GET)."""
    with _redis_errors():
        return read_run(result_check_read(report_key=report_key, now=now, read_cap=read_cap))


def result_check_read(
    *, report_key: str, now: float, read_cap: Throttle | None = None
) -> Read[tuple[LookupOutcome, ResultVersion | None]]:
    """result_check as a Read (see result_lookup_read)."""
    lookup = _lookup_command(report_key=report_key, now=now, force=False, read_cap=read_cap)
    return Read(
        commands=(lookup,),
        parse=lambda replies: _lookup_parse(replies[0], read_cap=read_cap),
        scripts=(_RESULT_LOOKUP,),
    )


def result_version_tag(*, report_key: str, as_of: float) -> str:
    """A short name of one stored result (an ETag's value): a new result, a new name."""
    return hashlib.blake2b(f"{report_key}|{as_of!r}".encode(), digest_size=12).hexdigest()


def _lookup_command(
    *, report_key: str, now: float, force: bool, read_cap: Throttle | None
) -> Command:
    keys = [result_key(report_key), metrics_key()]
    args: list[str | float | int] = [repr(now), int(force), *_LOOKUP_FIELDS]
    if read_cap is not None:
        keys.append(read_cap.counter_key(now=now))
        args += [read_cap.limit, read_cap.window_seconds + 1]
    return ("EVALSHA", _RESULT_LOOKUP_SHA, len(keys), *keys, *args)


def _lookup_parse(
    counted: Any, *, read_cap: Throttle | None
) -> tuple[LookupOutcome, ResultVersion | None]:
    if counted is None:
        assert read_cap is not None  # only a capped read is refused
        raise ReadLimitReached(f"More than {read_cap.limit} reads in {read_cap.window_seconds} s")
    outcome, fresh_until, as_of = counted
    if fresh_until is None or as_of is None:
        return "miss", None
    version = ResultVersion(as_of=float(as_of), fresh_until=float(fresh_until))
    return cast(LookupOutcome, as_text(outcome)), version


# The payload's fields of the result hash (payload_gzip.DeflatedPayload), read in one HMGET.
# New names rather than a new SCHEMA_VERSION: a result stored as raw JSON (its field was
# `payload`) has none of them, so it reads as a miss and is fetched again, never misread.
_PAYLOAD_FIELDS = ("payload_deflated", "payload_crc32", "payload_size")


def _deflated_payload(fields: list[Any]) -> DeflatedPayload | None:
    blocks, crc32, size = fields
    if blocks is None or crc32 is None or size is None:
        return None
    return DeflatedPayload(blocks=blocks, crc32=int(crc32), size=int(size))


def result_get(*, report_key: str) -> CachedReport | None:
    with _redis_errors():
        fields = get_redis().hmget(result_key(report_key), *_PAYLOAD_FIELDS, "fresh_until", "as_of")
    payload, (fresh_until, as_of) = _deflated_payload(fields[:3]), fields[3:]
    if payload is None or fresh_until is None or as_of is None:
        return None
    return CachedReport(deflated=payload, fresh_until=float(fresh_until), as_of=float(as_of))


def result_put(
    *,
    report_key: str,
    payload: bytes,
    as_of: float,
    fresh_seconds: int,
    ttl_seconds: int,
    series_key: str = "",
) -> None:
    """Replace the result in one MULTI, so a reader sees the old result or the new, never half.
    The payload (JSON bytes) is stored deflated, once (payload_gzip). `series_key`: the result is
    the latest of its series (series_previous), kept as long as the result."""
    key = result_key(report_key)
    deflated = DeflatedPayload.of(payload)
    blocks_field, crc32_field, size_field = _PAYLOAD_FIELDS
    fields: dict[str, bytes | float | int] = {
        blocks_field: deflated.blocks,
        crc32_field: deflated.crc32,
        size_field: deflated.size,
        "fresh_until": as_of + fresh_seconds,
        "as_of": as_of,
    }
    with _redis_errors():
        pipe = get_redis().pipeline(transaction=True)
        pipe.delete(key)
        pipe.hset(key, mapping=cast(Any, fields))
        pipe.expire(key, ttl_seconds)
        pipe.delete(report_error_key(report_key))
        if series_key:
            pipe.set(series_latest_key(series_key), report_key, ex=ttl_seconds)
        pipe.execute()


def series_previous(*, series_key: str, report_key: str) -> tuple[str, CachedReport] | None:
    """The latest result of the series when it is another report than `report_key` (the same
    filters over the interval before the clock moved on), with its report key; None if none."""
    with _redis_errors():
        latest = get_redis().get(series_latest_key(series_key))
    if latest is None or as_text(latest) == report_key:
        return None
    cached = result_get(report_key=as_text(latest))
    return None if cached is None else (as_text(latest), cached)


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


# Extend the lock only if it still names this job, like _RELEASE_LOCK.
_EXTEND_LOCK = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) end
return 0
"""


def lock_extend(*, report_key: str, job_id: str, ttl_seconds: int) -> bool:
    """Give the job's lock `ttl_seconds` more (a restarted job runs a whole attempt again)."""
    with _redis_errors():
        return bool(get_redis().eval(_EXTEND_LOCK, 1, lock_key(report_key), job_id, ttl_seconds))


def lock_report_keys() -> Iterator[str]:
    prefix = lock_key("")
    with _redis_errors():
        for key in get_redis().scan_iter(match=prefix + "*", count=500):
            yield as_text(key)[len(prefix) :]


def job_create(
    *,
    job_id: str,
    report_key: str,
    spec: dict[str, Any],
    kind: str = "interactive",
    cost: int | None = None,
) -> None:
    """A queued job. `kind` and `cost` (estimated requests) say which queue it goes to, the
    first time and if it is started again (services.fetch_route)."""
    now = time.time()
    fields: dict[str, Any] = {
        "state": "queued",
        "report_key": report_key,
        "spec": orjson.dumps(spec),
        "kind": kind,
        "created_at": now,
        "updated_at": now,
    }
    if cost is not None:
        fields["cost"] = cost
    with _redis_errors():
        pipe = get_redis().pipeline(transaction=True)
        pipe.hset(job_key(job_id), mapping=cast(Any, fields))
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


# Write the fields only if the job has not moved since it was read: the compare and the write
# in one step, so a worker's progress (or another reaper) in between wins. KEYS: the job hash.
# ARGV: the updated_at read, the job TTL, then field, value pairs.
_UPDATE_IF_UNCHANGED = """
if redis.call('hget', KEYS[1], 'updated_at') ~= ARGV[1] then return 0 end
redis.call('hset', KEYS[1], unpack(ARGV, 3))
redis.call('expire', KEYS[1], ARGV[2])
return 1
"""


def job_update_if_unchanged(
    *, job_id: str, seen_updated_at: str, **fields: str | int | float
) -> bool:
    """Set `fields` (updated_at only if among them) if the job's updated_at is still the one
    read from it, `seen_updated_at`; False if it moved on in the meantime."""
    pairs = [str(part) for field in fields.items() for part in field]
    with _redis_errors():
        written = get_redis().eval(
            _UPDATE_IF_UNCHANGED, 1, job_key(job_id), seen_updated_at, JOB_TTL_SECONDS, *pairs
        )
    return bool(written)


def jobs_disown(*, worker: str, before: float) -> int:
    """Forget that `worker` runs the jobs it last moved before `before`, its start: they died
    with its previous process. Returns how many; only running jobs hold a lock, so the locks
    lead to them."""
    disowned = 0
    for report_key in lock_report_keys():
        holder = lock_holder(report_key=report_key)
        job = job_get(job_id=holder) if holder is not None else None
        if job is None or job.get("worker") != worker or job.get("state") not in RUNNING_STATES:
            continue
        updated_at = job.get("updated_at", "")
        if job_seconds(job, "updated_at") < before and job_update_if_unchanged(
            job_id=str(holder), seen_updated_at=updated_at, worker=""
        ):
            disowned += 1
    return disowned


def job_seconds(job: Mapping[str, str], field: str) -> float:
    """A time field of a job (updated_at, wait_until, ...) in epoch seconds; 0 if unset."""
    try:
        return float(job.get(field) or 0)
    except ValueError:
        return 0.0


def job_get(*, job_id: str) -> dict[str, str] | None:
    with _redis_errors():
        raw = get_redis().hgetall(job_key(job_id))
    if not raw:
        return None
    return {as_text(k): as_text(v) for k, v in raw.items()}


def report_error_put(*, report_key: str, message: str, at: float) -> None:
    """Record a failed fetch of the report, counting the failures in a row (`failures`; a
    stored result clears the record, result_put)."""
    key = report_error_key(report_key)
    with _redis_errors():
        # Read, then write: only the one job holding the report's lock fails it at a time.
        previous = get_redis().get(key)
        failures = 1 + (int(orjson.loads(previous).get("failures", 1)) if previous else 0)
        get_redis().set(
            key,
            orjson.dumps({"message": message, "at": at, "failures": failures}),
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


# --- What fetches cost, and each user's budget for them -------------------------------------------

# Kept longer than any result: a report fetched again after its result expired still knows its cost.
FETCH_COST_TTL_SECONDS = 7 * 24 * 3600


def fetch_cost_put(*, report_key: str, requests: int) -> None:
    with _redis_errors():
        get_redis().set(fetch_cost_key(report_key), requests, ex=FETCH_COST_TTL_SECONDS)


def fetch_cost_get(*, report_key: str) -> int | None:
    with _redis_errors():
        raw = get_redis().get(fetch_cost_key(report_key))
    return int(raw) if raw is not None else None


@dataclass(frozen=True)
class FetchBudget:
    """One user's allowance for starting fetches. Each new fetch is charged its estimated requests
    to Genesys against `requests`, which refill at `requests_per_minute` (a token bucket: a user
    who spent it all waits, one who spent a little barely notices); and at most
    `fetches_per_minute` start in any minute (each is a job, a lock and a result in Redis)."""

    name: str
    requests: int
    requests_per_minute: int
    fetches_per_minute: int


@dataclass(frozen=True)
class BudgetRefusal:
    reason: Literal["requests", "fetches"]  # which part of the budget is spent
    retry_after: float  # seconds until a fetch of the same cost would be charged


# Check both parts of the budget and charge both or neither, in one step. The requests part is
# a debt that pays itself off at ARGV[3] requests a second, kept as the time it is paid off
# (GCRA): a fetch may start while debt + cost <= ARGV[4], or whatever its cost when nothing is
# owed, else the longest report could never start. KEYS: the debt's key, the window's fetch
# counter. ARGV: now, cost, requests per second, requests, fetches per window, the window's end,
# the counter's TTL. Returns {reason, seconds to wait} (floats as text: Lua numbers come back
# to Python cut to integers), reason "ok" when charged.
_BUDGET_CHARGE = """
local now, cost = tonumber(ARGV[1]), tonumber(ARGV[2])
local per_second, most = tonumber(ARGV[3]), tonumber(ARGV[4])
local paid_at = math.max(tonumber(redis.call('get', KEYS[1]) or 0), now)
local debt = (paid_at - now) * per_second
if debt > 0 and debt + cost > most then
  return {'requests', tostring((debt - math.max(most - cost, 0)) / per_second)}
end
if tonumber(redis.call('get', KEYS[2]) or 0) >= tonumber(ARGV[5]) then
  return {'fetches', tostring(tonumber(ARGV[6]) - now)}
end
redis.call('incr', KEYS[2])
redis.call('expire', KEYS[2], ARGV[7])
paid_at = paid_at + cost / per_second
redis.call('set', KEYS[1], tostring(paid_at), 'EX', math.ceil(paid_at - now) + 1)
return {'ok', '0'}
"""


def fetch_budget_charge(*, budget: FetchBudget, cost: int, now: float) -> BudgetRefusal | None:
    """Charge one new fetch of `cost` requests to `budget` at `now`: None if charged, else what
    is spent and for how long (nothing is charged then)."""
    window = Throttle(f"{budget.name}:fetches", budget.fetches_per_minute, 60)
    window_end = (now // 60 + 1) * 60
    with _redis_errors():
        reason, wait = get_redis().eval(
            _BUDGET_CHARGE,
            2,
            fetch_budget_key(budget.name),
            window.counter_key(now=now),
            repr(now),
            max(cost, 1),
            budget.requests_per_minute / 60,
            budget.requests,
            budget.fetches_per_minute,
            repr(window_end),
            61,
        )
    if as_text(reason) == "ok":
        return None
    return BudgetRefusal(
        reason=cast(Literal["requests", "fetches"], as_text(reason)), retry_after=float(wait)
    )
