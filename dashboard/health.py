"""How the running system is doing: the /healthz checks and the /metrics exposition.

Both look at our own parts only (database, Redis, broker, the worker and beat heartbeats), never
at Genesys, and show no secret: a failure is named by its exception class, never by a URL (a
Redis or database URL may hold a password).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from functools import lru_cache

import redis
from django.conf import settings
from django.db import DatabaseError, connection

from analytics_worker import heartbeats, redis_client
from analytics_worker.models import SavedReport
from analytics_worker.redis_client import connect, get_redis, job_key, lock_key
from config.celery import app as celery_app

OK = "ok"
# Every heartbeat key lives this long, so any heartbeat still in Redis is recent.
WORKER_MAX_AGE_SECONDS = heartbeats.WORKER_HEARTBEAT_TTL_SECONDS
# Beat ticks every 60 s: two missed ticks and a margin before it counts as stopped.
BEAT_MAX_AGE_SECONDS = 150
# kombu's Redis transport keeps a queue as one list per priority step, named queue + sep + step
# (step 0: the queue's own name).
_PRIORITY_SEP = "\x06\x16"


def _failure(exc: BaseException) -> str:
    return f"unavailable: {exc.__class__.__name__}"


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return _failure(exc)
    return OK


def _check_redis() -> str:
    try:
        get_redis().ping()
    except redis.RedisError as exc:
        return _failure(exc)
    return OK


@lru_cache(maxsize=4)
def _broker_redis(url: str) -> redis.Redis:
    return connect(url)


def _broker_is_redis() -> bool:
    return str(settings.CELERY_BROKER_URL).startswith(("redis://", "rediss://"))


def _check_broker() -> str:
    try:
        if _broker_is_redis():
            _broker_redis(settings.CELERY_BROKER_URL).ping()
        else:
            with celery_app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:  # kombu raises a different type per transport
        return _failure(exc)
    return OK


def _check_worker(*, now: float) -> str:
    try:
        beats = heartbeats.worker_heartbeats()
    except redis.RedisError:
        return "unknown: Redis is unavailable"
    if not any(now - at <= WORKER_MAX_AGE_SECONDS for at in beats.values()):
        return f"no worker heartbeat in the last {WORKER_MAX_AGE_SECONDS} s"
    return OK


def _check_beat(*, now: float) -> str:
    try:
        tick = heartbeats.beat_last_tick()
    except redis.RedisError:
        return "unknown: Redis is unavailable"
    if tick is None:
        return "no tick recorded"
    if now - tick > BEAT_MAX_AGE_SECONDS:
        return f"last tick {now - tick:.0f} s ago"
    return OK


def health_checks(*, now: float) -> dict[str, str]:
    """Each part of the stack: "ok", or what is wrong with it."""
    return {
        "database": _check_database(),
        "redis": _check_redis(),
        "broker": _check_broker(),
        "worker": _check_worker(now=now),
        "beat": _check_beat(now=now),
    }


# --- /metrics: the Prometheus text format ----------------------------------------------------------

# Counters shared by every process (web and workers add to one Redis hash), by name.
COUNTER_HELP = {
    "gad_cache_lookups_total": "Report reads by cache outcome (fresh, stale, miss).",
    "gad_fetches_total": "Report fetches finished, by outcome (done, failed).",
    "gad_fetch_seconds_total": "Seconds spent in finished report fetches (divide by the count).",
    # 429s are the status="429" series.
    "gad_upstream_requests_total": "Requests sent to Genesys, by HTTP status (or error name).",
    "gad_upstream_retries_total": "Requests to Genesys that were retried.",
}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _sample(name: str, value: float, **labels: str) -> str:
    label_text = ",".join(f'{key}="{_escape(text)}"' for key, text in sorted(labels.items()))
    return f"{name}{{{label_text}}} {value:g}" if label_text else f"{name} {value:g}"


def _family(name: str, kind: str, help_text: str, samples: Iterable[str]) -> list[str]:
    lines = list(samples)
    if not lines:
        return []
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *lines]


def _counters() -> dict[str, float]:
    """`name;label=value;...` -> total, written through redis_client.metric_incr at the HTTP
    chokepoint, in report_lookup and in report_run."""
    try:
        return redis_client.metrics_read()
    except redis.RedisError:
        return {}


def _counter_lines() -> list[str]:
    by_name: dict[str, list[str]] = {}
    for field_name, value in sorted(_counters().items()):
        name, *pairs = field_name.split(";")
        labels = dict(pair.split("=", 1) for pair in pairs if "=" in pair)
        by_name.setdefault(name, []).append(_sample(name, value, **labels))
    lines: list[str] = []
    for name, samples in by_name.items():
        lines += _family(name, "counter", COUNTER_HELP.get(name, name), samples)
    return lines


def _queue_lines() -> list[str]:
    if not _broker_is_redis():
        return []
    # Every queue (config/settings.py CELERY_TASK_QUEUES) at every priority step.
    steps = celery_app.conf.broker_transport_options["priority_steps"]
    names = [
        f"{queue}{_PRIORITY_SEP}{step}" if step else queue
        for queue in celery_app.amqp.queues
        for step in steps
    ]
    try:
        broker = _broker_redis(settings.CELERY_BROKER_URL)
        depth = sum(int(broker.llen(name)) for name in names)
        unacked = int(broker.hlen("unacked"))
    except redis.RedisError:
        return []
    return [
        *_family(
            "gad_job_queue_depth",
            "gauge",
            "Tasks waiting for a worker.",
            [_sample("gad_job_queue_depth", depth)],
        ),
        *_family(
            "gad_jobs_unacked",
            "gauge",
            "Tasks taken by a worker and not finished (redelivered if the worker dies).",
            [_sample("gad_jobs_unacked", unacked)],
        ),
    ]


def _redis_lines(*, now: float) -> list[str]:
    try:
        r = get_redis()
        states: dict[str, int] = {}
        job_keys = list(r.scan_iter(match=job_key("*"), count=500))
        if job_keys:
            pipe = r.pipeline(transaction=False)
            for key in job_keys:
                pipe.hget(key, "state")
            for state in pipe.execute():
                label = state.decode() if isinstance(state, bytes) else str(state)
                states[label] = states.get(label, 0) + 1
        locks = sum(1 for _ in r.scan_iter(match=lock_key("*"), count=500))
        workers = heartbeats.worker_heartbeats()
        tick = heartbeats.beat_last_tick()
    except redis.RedisError:
        return []
    lines = _family(
        "gad_jobs",
        "gauge",
        "Fetch jobs of the last 24 hours, by state.",
        [_sample("gad_jobs", count, state=state) for state, count in sorted(states.items())],
    )
    lines += _family(
        "gad_locks_held",
        "gauge",
        "Reports with a fetch in flight.",
        [_sample("gad_locks_held", locks)],
    )
    lines += _family(
        "gad_worker_heartbeat_age_seconds",
        "gauge",
        "Seconds since each live worker's last heartbeat.",
        [
            _sample("gad_worker_heartbeat_age_seconds", round(now - at, 3), worker=host)
            for host, at in sorted(workers.items())
        ],
    )
    if tick is not None:
        lines += _family(
            "gad_beat_last_tick_age_seconds",
            "gauge",
            "Seconds since celery beat last published its minute tick.",
            [_sample("gad_beat_last_tick_age_seconds", round(now - tick, 3))],
        )
    return lines


def _saved_report_lines(*, now: float) -> list[str]:
    try:
        reports = list(
            SavedReport.objects.values_list(
                "name", "enabled", "last_success_at", "consecutive_failures"
            )
        )
    except DatabaseError:
        return []
    ages = [
        _sample(
            "gad_saved_report_last_success_age_seconds",
            round(now - success.timestamp(), 3),
            report=name,
        )
        for name, enabled, success, _ in reports
        if enabled and success is not None
    ]
    failures = [
        _sample("gad_saved_report_consecutive_failures", failed, report=name)
        for name, enabled, _, failed in reports
        if enabled
    ]
    return [
        *_family(
            "gad_saved_report_last_success_age_seconds",
            "gauge",
            "Seconds since each enabled saved report was last fetched successfully.",
            ages,
        ),
        *_family(
            "gad_saved_report_consecutive_failures",
            "gauge",
            "Failed fetches in a row of each enabled saved report.",
            failures,
        ),
    ]


def metrics_text(*, now: float | None = None) -> str:
    """Everything /metrics shows, in the Prometheus text exposition format (version 0.0.4)."""
    now = time.time() if now is None else now
    checks = health_checks(now=now)
    lines = _family(
        "gad_up",
        "gauge",
        "1 if the part of the stack passes its /healthz check, else 0.",
        [_sample("gad_up", int(result == OK), part=part) for part, result in checks.items()],
    )
    lines += _counter_lines()
    lines += _queue_lines()
    lines += _redis_lines(now=now)
    lines += _saved_report_lines(now=now)
    return "\n".join(lines) + "\n"
