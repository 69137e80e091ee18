"""The stack the benches run against, set up like production and torn down afterwards.

- Redis: DB 8 report cache (and OAuth token, rate limiter, locks), 9 the simulated org's
  counters, 7 the Celery broker, 11 the tutorial baseline's cache; all flushed before and after.
- SQLite in a temporary directory, migrated, with one user and a logged-in session.
- gunicorn (`bench.wsgi:application -w 3`, gthread, DEBUG off, started by tests/harness.py) on a free
  loopback port; it serves the product, the simulated org under /sim/ at the volume a bench
  asks for, the tutorial baseline under /bench/baseline/ and the ceiling view. One server at a
  time: a bench that needs another volume restarts it.
- This process is a worker too: it calls analytics_worker.services directly, with settings
  pointing at that server's /sim/. A bench that measures workers against each other (bench
  "contention") starts real Celery workers instead (worker_start), as docker-compose.yml runs them.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import redis
import requests

from tests.harness import Process, Processes, free_port

ROOT = Path(__file__).resolve().parent.parent
# BENCH_REDIS_BASE: another Redis server, so a second checkout can bench beside this one.
REDIS_BASE = os.environ.get("BENCH_REDIS_BASE", "redis://127.0.0.1:6379")
# A run flushes these. Apart from the suite's (15, 12, and the drills' 3-7); a checkout whose
# suite runs beside a bench picks another with TEST_REDIS_URL.
REDIS_DBS = {"cache": 8, "sim": 9, "broker": 10, "baseline": 11}
USERNAME = "bench"
SERVER_START_SECONDS = 60
# gunicorn's gthread workers, as in production (docker-compose.yml's web: 3 workers of 4
# threads); BENCH_SERVER_WORKERS and BENCH_SERVER_THREADS try other counts. Not 2 workers on
# the 2 cores: a gthread worker keeps every connection it accepts, and when a client's 4
# keep-alive connections all went to one of two, that one process (one GIL, one core) served
# them all, and a run measured half the throughput of the next (2026-12-02, docs/PERFORMANCE.md).
SERVER_THREADS = int(os.environ.get("BENCH_SERVER_THREADS", "4"))
SERVER_WORKERS = int(os.environ.get("BENCH_SERVER_WORKERS", "3"))
# The bare 304 view of bench "polling" (bench/wsgi.py) compares If-None-Match with this key.
BARE_304_PATH = "/bench/bare304"
BARE_304_KEY = "bench:etag"
# The ceiling view of bench 1 (bench/wsgi.py) answers the bytes stored under this key.
CEILING_PATH = "/bench/ceiling"
CEILING_KEY = "bench:ceiling"


@dataclass
class Stack:
    tmp: Path
    port: int
    quick: bool
    runs: int
    processes: Processes  # every server this run started, with its log in `tmp`
    session_cookie: str = ""
    per_day: int = 0  # the running server's simulated volume, 0 when none runs
    server: Process | None = None
    workers: list[Process] = field(default_factory=list)  # Celery workers running now

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def cookie_header(self) -> str:
        from django.conf import settings

        return f"{settings.SESSION_COOKIE_NAME}={self.session_cookie}"


def redis_db(name: str) -> redis.Redis:
    return redis.Redis.from_url(f"{REDIS_BASE}/{REDIS_DBS[name]}")


def redis_flush() -> None:
    for name in REDIS_DBS:
        redis_db(name).flushdb()


def stack_open(*, quick: bool, runs: int) -> Stack:
    """Environment, Django, Redis, database, static files and a logged-in user. No server yet."""
    tmp = Path(tempfile.mkdtemp(prefix="gad-bench-"))
    port = free_port()
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DEBUG": "false",
            "SECRET_KEY": f"bench-{uuid.uuid4().hex}",
            "ALLOWED_HOSTS": "127.0.0.1",
            # Production puts a TLS proxy in front of gunicorn; the benches talk plain HTTP to
            # gunicorn itself on loopback.
            "SECURE_SSL_REDIRECT": "false",
            "SECURE_COOKIES": "false",
            "SITE_URL": f"http://127.0.0.1:{port}",
            "GENESYS_SIMULATOR": "true",
            "GENESYS_CLIENT_ID": "",
            "GENESYS_CLIENT_SECRET": "",
            "GENESYS_API_URL": f"http://127.0.0.1:{port}/sim",
            "GENESYS_LOGIN_URL": "",
            "GENESYS_RATE_LIMIT_PER_MINUTE": "300",
            "GENESYS_SIM_RATE_LIMIT_PER_MINUTE": "300",
            "GENESYS_SIM_FAULTS": "",
            # The benches reset and read the org's counters through its control endpoints.
            "GENESYS_SIM_FAULTS_ENABLED": "true",
            "ANALYTICS_SOURCE": "aggregates",
            "REPORT_DEFAULT_TIME_ZONE": "UTC",
            "REPORT_CACHE_REDIS_URL": f"{REDIS_BASE}/{REDIS_DBS['cache']}",
            "GENESYS_SIM_REDIS_URL": f"{REDIS_BASE}/{REDIS_DBS['sim']}",
            "CELERY_BROKER_URL": f"{REDIS_BASE}/{REDIS_DBS['broker']}",
            "BENCH_BASELINE_REDIS_URL": f"{REDIS_BASE}/{REDIS_DBS['baseline']}",
            "SQLITE_PATH": str(tmp / "db.sqlite3"),
            "BENCH_STATIC_ROOT": str(tmp / "static"),
            # The per-user read cap (60/minute) guards Genesys from a runaway tab; a load test
            # is one user sending thousands of reads, each still counted in Redis.
            "DASHBOARD_REPORT_READS_PER_MINUTE": str(10**9),
            "LOG_LEVEL": "WARNING",
        }
    )
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test import Client

    redis_flush()
    call_command("migrate", verbosity=0, interactive=False)
    call_command("collectstatic", verbosity=0, interactive=False)
    user = User.objects.create_user(USERNAME, password=uuid.uuid4().hex)
    client = Client()
    client.force_login(user)
    from django.conf import settings

    stack = Stack(tmp=tmp, port=port, quick=quick, runs=runs, processes=Processes(tmp))
    stack.session_cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    return stack


def stack_close(stack: Stack) -> None:
    workers_stop(stack)
    server_stop(stack)
    redis_flush()
    shutil.rmtree(stack.tmp, ignore_errors=True)


def wsgi_call(
    application: Callable[..., Any],
    path: str,
    *,
    port: int,
    cookie_header: str,
    environ: Mapping[str, str] | None = None,
) -> tuple[str, dict[str, str]]:
    """One GET through a WSGI application in this process, as gunicorn calls it (no sockets):
    its status and headers. The body is read and closed (Django's request_finished runs)."""
    from urllib.parse import urlsplit

    parts = urlsplit(path)
    request = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": parts.path,
        "QUERY_STRING": parts.query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": str(port),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": f"127.0.0.1:{port}",
        "HTTP_COOKIE": cookie_header,
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        **(environ or {}),
    }
    answer: list[Any] = []
    body = application(
        request, lambda status, headers, exc_info=None: answer.extend([status, headers])
    )
    b"".join(body)
    if hasattr(body, "close"):
        body.close()
    return answer[0], dict(answer[1])


# --- the server --------------------------------------------------------------------------------


def server_start(stack: Stack, *, per_day: int) -> None:
    """gunicorn's gthread workers serving a simulated org of `per_day` conversations/day."""
    if stack.server is not None and stack.per_day == per_day:
        return
    server_stop(stack)
    stack.server = stack.processes.gunicorn(
        f"gunicorn-{per_day}",
        "bench.wsgi:application",
        port=stack.port,
        env={**os.environ, "GENESYS_SIM_CONVERSATIONS_PER_DAY": str(per_day)},
        # The ceiling view (bench/wsgi.py): up as soon as the workers are, whatever /healthz
        # thinks of the Celery worker this stack does not run. The harness waits for both
        # workers, so nothing is measured against half a server.
        ready_url=stack.base_url + CEILING_PATH,
        workers=SERVER_WORKERS,
        # As production runs it (Dockerfile, docker-compose.yml): gthread workers keep the
        # client's connections open, as a browser's are.
        options=[
            *("--worker-class", "gthread", "--threads", str(SERVER_THREADS)),
            *("--timeout", "300", "--log-level", "warning"),
        ],
        timeout=SERVER_START_SECONDS,
    )
    stack.per_day = per_day


def server_stop(stack: Stack) -> None:
    """Stop the server this run started (SIGTERM to its process group: the master and workers)."""
    if stack.server is None:
        return
    stack.server.stop(timeout=20)
    stack.server = None
    stack.per_day = 0


# --- Celery workers -------------------------------------------------------------------------------


def worker_start(stack: Stack, name: str, *, queues: tuple[str, ...], concurrency: int) -> Process:
    """A Celery worker reading `queues` with `concurrency` pool processes, as docker-compose.yml
    runs its `worker` (interactive,celery x 2) and `interactive-worker` (interactive x 1); ready
    once it has connected to the broker and logs " ready."."""
    args = [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO"]
    args += [f"--queues={','.join(queues)}", f"--concurrency={concurrency}"]
    args += ["--without-gossip", "--without-mingle", "-n", f"{name}@%h"]
    # LOG_LEVEL INFO: the " ready." line, and a line a fetch, in the worker's log in stack.tmp.
    process = stack.processes.spawn(name, args, env={**os.environ, "LOG_LEVEL": "INFO"})
    stack.workers.append(process)
    process.wait_for(
        lambda: " ready." in process.log_text(),
        what=f"{name} to start",
        timeout=SERVER_START_SECONDS,
    )
    return process


def workers_stop(stack: Stack) -> None:
    """Stop the Celery workers this run started (warm shutdown: running tasks finish first)."""
    for process in reversed(stack.workers):
        process.stop(timeout=30)
    stack.workers.clear()


# --- the simulated org's testing aids ---------------------------------------------------------


def sim_headers(stack: Stack) -> dict[str, str]:
    """The simulated org's bearer token, which its control endpoints ask for."""
    from django.conf import settings

    response = requests.post(
        f"{stack.base_url}/sim/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(settings.GENESYS_SIM_CLIENT_ID, settings.GENESYS_SIM_CLIENT_SECRET),
        timeout=10,
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def sim_stats(stack: Stack) -> dict[str, Any]:
    headers = sim_headers(stack)
    return requests.get(f"{stack.base_url}/sim/_stats", headers=headers, timeout=10).json()


def sim_reset(stack: Stack) -> None:
    """Zero the org's counters and refill its rate budget (so benches do not share a minute)."""
    headers = sim_headers(stack)
    requests.post(f"{stack.base_url}/sim/_reset", headers=headers, timeout=10).raise_for_status()


# --- reports -------------------------------------------------------------------------------------


def past_days(days: int, *, today: date | None = None) -> tuple[date, date]:
    """The first and last of the `days` whole UTC days before today: data that is complete and
    historical (long freshness), so a cached report stays fresh through a bench."""
    today = today or datetime.now(UTC).date()
    return today - timedelta(days=days), today - timedelta(days=1)


def report_params(
    *, first: date, last: date, granularity: str = "PT30M", source: str = "aggregates"
) -> dict[str, str]:
    return {
        "range": "custom",
        "start": first.isoformat(),
        "end": last.isoformat(),
        "granularity": granularity,
        "tz": "UTC",
        "source": source,
    }


def report_spec(params: Mapping[str, str]) -> Any:
    from analytics_worker.reports import report_spec_build

    return report_spec_build(params=dict(params), now=datetime.now(UTC), default_time_zone="UTC")


def query_string(params: Mapping[str, str]) -> str:
    return urlencode(params)


def report_seed(spec: Any) -> None:
    """Fetch the report from the simulated org and cache it, as the Celery task does."""
    from analytics_worker import fetch

    state = fetch.report_job_run(spec_data=spec.to_dict(), job_id=str(uuid.uuid4()))
    if state != "done":
        raise RuntimeError(f"seeding report {spec.key} ended {state}")
