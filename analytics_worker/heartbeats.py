"""The worker and beat heartbeats that /healthz, /metrics and the reaper (services.locks_reap)
read.

A worker process writes its heartbeat from a thread of its main process, with a TTL, so the key
of a worker that died (even by SIGKILL) disappears by itself. Beat's tick is recorded when beat
*publishes* its minute task (before_task_publish runs in the publishing process), so it measures
beat itself, not beat + broker + a worker; /healthz checks those separately.

The receivers are connected by AnalyticsWorkerConfig.ready(), in every process that loads Django.
"""

from __future__ import annotations

import gc
import logging
import socket
import threading
import time
from typing import Any

import redis
from celery.signals import (
    beat_init,
    before_task_publish,
    worker_process_init,
    worker_ready,
    worker_shutdown,
)
from django.conf import settings

from analytics_worker import cache
from analytics_worker.redis_client import (
    as_text,
    beat_tick_key,
    connect,
    get_redis,
    worker_heartbeat_key,
    worker_last_seen_key,
)

logger = logging.getLogger(__name__)

# Read once: /healthz names the same figure. Six beats per TTL, so a busy worker may miss a few
# before its key expires (60 s and every 10 s by default).
WORKER_HEARTBEAT_TTL_SECONDS: int = settings.WORKER_HEARTBEAT_TTL_SECONDS
WORKER_HEARTBEAT_SECONDS = max(1, WORKER_HEARTBEAT_TTL_SECONDS // 6)
BEAT_TICK_TASK = "analytics_worker.refresh_due_reports"

_heartbeat_stop = threading.Event()


def signals_connect() -> None:
    """Connect the receivers below (weak=False: they are module functions, kept anyway)."""
    worker_process_init.connect(worker_heap_freeze, weak=False)
    worker_ready.connect(worker_heartbeat_start, weak=False)
    worker_shutdown.connect(worker_heartbeat_stop, weak=False)
    beat_init.connect(beat_tick_record, weak=False)
    before_task_publish.connect(beat_tick_record, sender=BEAT_TICK_TASK, weak=False)


def worker_heap_freeze(**_: Any) -> None:
    """Exempt what a worker process holds at boot from garbage collection.

    Django and the product (about 94,000 objects) live as long as the process; the collector
    walked them all whenever a page's thousands of new dicts set off a full collection. Frozen,
    normalisation runs 1.0-1.3x as fast (bench 4). Sent in each pool process, and by solo.
    """
    gc.freeze()


def worker_heartbeat_start(sender: Any = None, **_: Any) -> None:
    hostname = str(getattr(sender, "hostname", None) or socket.gethostname())
    worker_jobs_disown(hostname=hostname, booted_at=time.time())
    # A client of its own: pool children forked later must never inherit a connection pool whose
    # lock this thread might hold at the moment of the fork.
    client = connect(settings.REPORT_CACHE_REDIS_URL)

    def beat() -> None:
        while True:
            try:
                now = time.time()
                pipe = client.pipeline(transaction=False)
                pipe.set(worker_heartbeat_key(hostname), now, ex=WORKER_HEARTBEAT_TTL_SECONDS)
                pipe.set(worker_last_seen_key(), now)
                pipe.execute()
            except redis.RedisError as exc:
                logger.warning("worker heartbeat not recorded: %s", type(exc).__name__)
            if _heartbeat_stop.wait(WORKER_HEARTBEAT_SECONDS):
                return

    threading.Thread(target=beat, name="worker-heartbeat", daemon=True).start()


def worker_jobs_disown(*, hostname: str, booted_at: float) -> None:
    """A worker that starts runs nothing yet: jobs still recorded as running on its name are
    from a previous life of it, killed and restarted under the same name (a container's restart
    policy) before its heartbeat expired. Disowned, the reaper sees them as lost."""
    try:
        disowned = cache.jobs_disown(worker=hostname, before=booted_at)
    except cache.CacheUnavailable as exc:
        logger.warning("jobs of an earlier %s not checked: %s", hostname, exc)
        return
    if disowned:
        logger.warning("%d job(s) of an earlier %s were lost with it", disowned, hostname)


def worker_heartbeat_stop(sender: Any = None, **_: Any) -> None:
    _heartbeat_stop.set()
    hostname = getattr(sender, "hostname", None)
    if hostname:
        try:
            # A clean stop says so at once; a killed worker's key expires with its TTL.
            get_redis().delete(worker_heartbeat_key(str(hostname)))
        except redis.RedisError:
            pass


def beat_tick_record(**_: Any) -> None:
    # Beat starting counts as a tick, so a fresh deployment is healthy before its first minute.
    try:
        get_redis().set(beat_tick_key(), time.time())
    except redis.RedisError as exc:
        # Never let bookkeeping stop beat from publishing.
        logger.warning("beat tick not recorded: %s", type(exc).__name__)


def worker_heartbeats() -> dict[str, float]:
    """Hostname -> time of its last heartbeat, for every worker seen in the last minute."""
    r = get_redis()
    prefix = worker_heartbeat_key("")
    beats: dict[str, float] = {}
    for key in r.scan_iter(match=prefix + "*", count=100):
        value = r.get(key)
        if value is not None:
            beats[as_text(key)[len(prefix) :]] = float(value)
    return beats


def collection_down_since() -> float | None:
    """When data collection stopped: None while a worker's heartbeat is recent, else the time
    of the last one (0.0 when no worker has reported since Redis was emptied). Raises
    redis.RedisError."""
    if worker_heartbeats():
        return None
    value = get_redis().get(worker_last_seen_key())
    return float(value) if value is not None else 0.0


def beat_last_tick() -> float | None:
    """When beat last published its minute tick, or None if never (since Redis was emptied)."""
    value = get_redis().get(beat_tick_key())
    return float(value) if value is not None else None
