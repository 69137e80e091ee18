"""The one Redis connection for the report cache, job status, locks, OAuth token and rate limiter,
and the name of every key the product keeps there.

Everything calls get_redis() at use time (never keeps its own client), so tests swap in fakeredis
or a real Redis on a test DB number by setting `_client`. Every key is built by a function below,
so the code that writes a key and the code that reads it (/healthz, /metrics) cannot drift.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import hiredis
import redis
from django.conf import settings
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

# Bump when the cached result's shape changes: every key and report key carries it, so a new
# format never reads an old value.
SCHEMA_VERSION = 2
KEY_PREFIX = f"gad:v{SCHEMA_VERSION}:"

_client: redis.Redis | None = None


def get_redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = connect(settings.REPORT_CACHE_REDIS_URL)
    return _client


def connect(url: str) -> redis.Redis:
    # Short timeouts and one quick retry: a dead Redis must become a clear "cache unavailable"
    # within a second, not a page that hangs through redis-py's default backoff.
    return redis.Redis.from_url(
        url,
        socket_timeout=2,
        socket_connect_timeout=1,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), retries=1),
        health_check_interval=30,
    )


T = TypeVar("T")
Command = tuple[Any, ...]  # a Redis command and its arguments, as sent: ("HMGET", key, field)


@dataclass(frozen=True)
class Read(Generic[T]):
    """Redis commands that may share one round trip with other reads, and what their replies
    mean. Under load a round trip, not the commands, is what a cached hit waits on: a request
    that must read its session and then its report sends both at once (dashboard.sessions
    session_load_with)."""

    commands: tuple[Command, ...]
    parse: Callable[[list[Any]], T]  # their replies, in order, to the read's value
    scripts: tuple[str, ...] = ()  # Lua the commands call by SHA: loaded on NOSCRIPT


def reads_run(reads: Sequence[Read[Any]]) -> list[list[Any]]:
    """Send the reads in one MULTI (one round trip, every reply from the same moment), and
    answer each one's replies. A Redis that does not know a script yet (new, restarted) gets it
    loaded, and the whole batch is sent once more. Raises redis.RedisError."""
    commands = [command for read in reads for command in read.commands]
    try:
        replies = _round_trip(commands)
    except redis.exceptions.NoScriptError:
        for script in {script for read in reads for script in read.scripts}:
            get_redis().script_load(script)
        replies = _round_trip(commands)
    sliced, at = [], 0
    for read in reads:
        sliced.append(replies[at : at + len(read.commands)])
        at += len(read.commands)
    return sliced


def _round_trip(commands: list[Command]) -> list[Any]:
    """The commands' replies, sent in one write on this thread's connection (_held_connection),
    and in a MULTI when there are several (one command needs none: two more for Redis to parse
    and answer). Not redis-py's Pipeline: its queueing, response callbacks and observability
    hooks were a fifth of a cached hit's time (docs/PERFORMANCE.md), for replies these reads
    take as Redis sends them. The client's retry policy still applies (a dropped connection is
    opened again and the batch sent once more), and a reply that is an error is raised."""
    connection = _held_connection()
    transaction = len(commands) > 1

    def exchange() -> list[Any]:
        if not transaction:
            connection.send_packed_command(_packed(commands))
            return [connection.read_response()]
        connection.send_packed_command(_packed([("MULTI",), *commands, ("EXEC",)]))
        for _ in range(len(commands) + 1):  # MULTI's OK, then each command's QUEUED
            connection.read_response()
        replies = connection.read_response()  # EXEC's: each command's reply or error
        for reply in replies:
            if isinstance(reply, redis.ResponseError):
                raise reply
        return list(replies)

    try:
        return connection.retry.call_with_retry(exchange, lambda error: connection.disconnect())
    except BaseException:
        # Whatever cut the exchange short may have left replies unread on the connection, and
        # the thread's next read would take them for its own: start afresh.
        connection.disconnect()
        raise


def _packed(commands: list[Command]) -> list[bytes]:
    """The commands as Redis reads them, in one chunk (send_packed_command's list of them),
    packed by hiredis (the parser redis-py reads with).
    Not the connection's pack_commands: its splitting of multi-word names and its buffer
    chunking, which these commands never need, were a twentieth of a cached hit."""
    try:
        return [b"".join([hiredis.pack_command(command) for command in commands])]
    except TypeError as exc:  # an argument that is not bytes, text or a number
        raise redis.DataError(str(exc)) from exc


class _HeldConnection:
    """A connection of the client's pool that one thread keeps between its reads, given back
    when the thread ends (Python drops a thread's `threading.local` values then)."""

    def __init__(self, pool: redis.ConnectionPool) -> None:
        self.pool, self.pid = pool, os.getpid()
        self.connection = pool.get_connection()

    def __del__(self) -> None:
        try:
            self.pool.release(self.connection)
        except Exception:  # noqa: BLE001 (an ending thread or interpreter: nothing to tell)
            pass


_held = threading.local()


def _held_connection() -> Any:
    """This thread's connection for reads_run. Checking one out of the pool and back for each
    read (a lock, a readiness select, redis-py's connection events) was a fourteenth of a
    cached hit (docs/PERFORMANCE.md); gthread's threads live as long as their worker, so each
    keeps one. A new client (tests swap it) or a forked child gets a new one."""
    held: _HeldConnection | None = getattr(_held, "connection", None)
    pool = get_redis().connection_pool
    if held is None or held.pool is not pool or held.pid != os.getpid():
        held = _held.connection = _HeldConnection(pool)
    return held.connection


def read_run(read: Read[T]) -> T:
    """One read on its own. Raises redis.RedisError."""
    return read.parse(reads_run([read])[0])


def as_text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def redis_key(*parts: str) -> str:
    return KEY_PREFIX + ":".join(parts)


# --- Every key ------------------------------------------------------------------------------------
# A function of "*" is the pattern that scans every key of that kind.


def series_latest_key(series_key: str) -> str:
    """The report key of the latest result of a series (ReportSpec.series_key)."""
    return redis_key("series", series_key)


def result_key(report_key: str) -> str:
    """Hash {payload_deflated, payload_crc32, payload_size, fresh_until, as_of} of one report's
    cached result (cache.result_put)."""
    return redis_key("result", report_key)


def lock_key(report_key: str) -> str:
    """The id of the one job fetching that report (single flight)."""
    return redis_key("lock", report_key)


def job_key(job_id: str) -> str:
    """Hash of one fetch job's progress, for the page to poll."""
    return redis_key("job", job_id)


def report_error_key(report_key: str) -> str:
    """The last failure of that report, for the page and the admin."""
    return redis_key("error", report_key)


def throttle_key(name: str, window: int) -> str:
    """The event counter of one fixed window of a throttle."""
    return redis_key("throttle", name, str(window))


def fetch_cost_key(report_key: str) -> str:
    """The requests to Genesys that the report's last finished fetch took."""
    return redis_key("cost", report_key)


def fetch_budget_key(name: str) -> str:
    """When a fetch budget's owner owes nothing again (epoch seconds)."""
    return redis_key("budget", name)


def metrics_key() -> str:
    """The hash of every shared counter (/metrics)."""
    return redis_key("metrics")


def worker_heartbeat_key(hostname: str) -> str:
    return redis_key("heartbeat", "worker", hostname)


def worker_last_seen_key() -> str:
    """The time of the last heartbeat of any worker, kept after the heartbeats expire: "down
    since" when none is left."""
    return redis_key("heartbeat", "last-seen")


def beat_tick_key() -> str:
    return redis_key("heartbeat", "beat")


def oauth_token_key(client: str) -> str:
    """The OAuth token shared by every worker, per OAuth client fingerprint."""
    return redis_key("oauth", client)


def oauth_lock_key(client: str) -> str:
    return redis_key("oauth", client, "lock")


def rate_limit_next_key(client: str) -> str:
    """The next free send slot of the shared Genesys rate limit."""
    return redis_key("ratelimit", client, "next")


def rate_limit_pause_key(client: str) -> str:
    """Until when every worker holds back after a 429."""
    return redis_key("ratelimit", client, "paused_until")


def rate_limit_hold_key(client: str) -> str:
    """Until when a fetch a person waits for may still send: beat's prefetch holds back."""
    return redis_key("ratelimit", client, "foreground_until")


def queues_key(client: str) -> str:
    """The org's queue list, as (id, name) pairs."""
    return redis_key("queues", client)


def users_key(client: str) -> str:
    """The org's users (agents), id -> name."""
    return redis_key("users", client)


def live_watch_key(view: str) -> str:
    """A live view someone watches: its queue ids (JSON), expiring LIVE_WATCH_SECONDS after the
    last read of the view (analytics_worker/live.py)."""
    return redis_key("live", "watch", view)


def live_watchers_key() -> str:
    """Sorted set: every watched live view, scored by when its watcher key expires (the poller
    reads it instead of scanning the keyspace)."""
    return redis_key("live", "watchers")


def live_snapshot_key(view: str) -> str:
    """Hash {version, payload} of a live view's latest snapshot."""
    return redis_key("live", "snapshot", view)


def live_poll_slot_key() -> str:
    """Held for one poll interval by the live poll that has the turn."""
    return redis_key("live", "poll")


def live_backoff_key() -> str:
    """Hash {until, failures, reason}: live polls skipped until then."""
    return redis_key("live", "backoff")


def session_cache_key(session_key: str) -> str:
    """A login session's data as the database has it, or a tombstone once it is revoked
    (dashboard.sessions)."""
    return redis_key("session", session_key)


def user_cache_key(user_id: int) -> str:
    """A user's row, tagged with the user's generation when it was read (dashboard.user_cache)."""
    return redis_key("user", str(user_id))


def user_generation_key(user_id: int) -> str:
    """A counter bumped on every save of the user: a cached row of an older generation is dead."""
    return redis_key("user", str(user_id), "generation")


def metric_incr(name: str, amount: float = 1, **labels: str) -> None:
    """Add to a counter that every web and worker process shares (one field of one Redis hash,
    read by /metrics). Never raises: a metric must not break a fetch or a page."""
    try:
        get_redis().hincrbyfloat(metrics_key(), metric_field(name, **labels), amount)
    except redis.RedisError:
        pass


def metric_field(name: str, **labels: str) -> str:
    """The metrics hash's field for one counter: `name;label=value;...`, labels sorted."""
    return ";".join([name, *(f"{key}={value}" for key, value in sorted(labels.items()))])


def metrics_read() -> dict[str, float]:
    """Every counter, as `name;label=value;...` -> total. Raises redis.RedisError."""
    raw = get_redis().hgetall(metrics_key())
    return {as_text(field): float(value) for field, value in raw.items()}
