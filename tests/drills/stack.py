"""The production stack as real processes, for the failure drills.

- the simulated org: its own gunicorn, so it can go down while everything else stays up;
- the web: gunicorn serving the dashboard, configured like a real org (GENESYS_CLIENT_ID set,
  GENESYS_API_URL pointing at the simulated org's server, DEBUG off);
- Celery workers and beat, started and killed by each drill;
- Redis: the machine's server on DB numbers of the drills' own, or a private redis-server.

Everything talks to 127.0.0.1 only. The processes are started and stopped by tests/harness.py;
each writes a log file, and `Stack.logs()` gathers them so a drill can assert what was (or was
not) logged.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import orjson
import redis
import requests

from tests.harness import Process, Processes, free_port, manage, wait_until

# The drills' own Redis DB numbers on the machine's server (the unit tests use 13-15).
BROKER_DB, CACHE_DB, SIM_DB = 3, 4, 5
DRILL_DBS = (3, 4, 5, 6, 7)
SECRET_KEY = "drill-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ"
CLIENT_ID = "drill-client"
# Known, so a test can look for it in every log line and page.
CLIENT_SECRET = "drill-secret-7f3c9a1e5b2d4c6f8a0b"
# A past day: its report never depends on the clock, and is "historical" (long TTL).
DAY_QUERY = "range=custom&start=2024-05-01&end=2024-05-01&tz=UTC&granularity=PT1H"
# Kept from the caller's environment; everything else a process sees is set here, so a
# developer's shell or .env cannot change a drill.
PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH")


@dataclass
class Stack:
    tmp: Path
    template_db: Path
    sessions: dict[str, str]  # username -> session key, valid with SECRET_KEY
    redis_url: str = "redis://127.0.0.1:6379"
    sim_port: int = field(default_factory=free_port)
    web_port: int = field(default_factory=free_port)
    processes: Processes = field(init=False)

    def __post_init__(self) -> None:
        self.db_path = self.tmp / "db.sqlite3"
        shutil.copy(self.template_db, self.db_path)
        self.processes = Processes(self.tmp)

    # --- configuration ---------------------------------------------------------------------------

    @property
    def broker_url(self) -> str:
        return f"{self.redis_url}/{BROKER_DB}"

    @property
    def cache_url(self) -> str:
        return f"{self.redis_url}/{CACHE_DB}"

    @property
    def sim_redis_url(self) -> str:
        return f"{self.redis_url}/{SIM_DB}"

    @property
    def sim_url(self) -> str:
        return f"http://127.0.0.1:{self.sim_port}/sim"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def env(self, **extra: str) -> dict[str, str]:
        env = {name: os.environ[name] for name in PASSED_THROUGH if name in os.environ}
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings",
            PYTHONUNBUFFERED="1",
            DEBUG="false",
            SECRET_KEY=SECRET_KEY,
            ALLOWED_HOSTS="127.0.0.1,localhost",
            # Plain HTTP on 127.0.0.1: no TLS proxy in front of the drills.
            SECURE_SSL_REDIRECT="false",
            SECURE_COOKIES="false",
            SITE_URL=self.web_url,
            SQLITE_PATH=str(self.db_path),
            REDIS_URL=self.redis_url,
            CELERY_BROKER_URL=self.broker_url,
            REPORT_CACHE_REDIS_URL=self.cache_url,
            GENESYS_SIM_REDIS_URL=self.sim_redis_url,
            # The web and the worker see a real org: the simulated org's own server.
            GENESYS_SIMULATOR="false",
            GENESYS_CLIENT_ID=CLIENT_ID,
            GENESYS_CLIENT_SECRET=CLIENT_SECRET,
            GENESYS_API_URL=self.sim_url,
            GENESYS_LOGIN_URL=self.sim_url,
            GENESYS_SIM_CLIENT_ID=CLIENT_ID,
            GENESYS_SIM_CLIENT_SECRET=CLIENT_SECRET,
            GENESYS_SIM_FAULTS="",
            GENESYS_PAGE_SIZE="200",
            GENESYS_HTTP_TIMEOUT="5",
            ANALYTICS_SOURCE="graphql",
            LOG_LEVEL="INFO",
            LOG_FORMAT="plain",
        )
        env.update(extra)
        return env

    # --- processes -------------------------------------------------------------------------------

    def _gunicorn(self, name: str, port: int, env: dict[str, str], ready_path: str) -> Process:
        return self.processes.gunicorn(
            name,
            "config.wsgi:application",
            port=port,
            env=env,
            # /healthz answers 503 while a check fails (no worker yet, say): up all the same.
            ready_url=f"http://127.0.0.1:{port}{ready_path}",
            ready_statuses=(200, 503),
            options=["--worker-class", "gthread", "--threads", "8", "--access-logfile", "-"],
        )

    def start_sim(self, **extra: str) -> Process:
        # Fault injection and the control endpoints are for tests only: off unless asked for.
        env = self.env(GENESYS_SIMULATOR="true", GENESYS_SIM_FAULTS_ENABLED="true", **extra)
        return self._gunicorn("sim", self.sim_port, env, "/healthz/live")

    def start_web(self, **extra: str) -> Process:
        return self._gunicorn("web", self.web_port, self.env(**extra), "/healthz")

    def start_worker(self, name: str = "worker", **extra: str) -> Process:
        # launch_worker: the real worker, with the retry backoff scaled by DRILL_BACKOFF_SCALE.
        return self.processes.celery_worker(
            name, env=self.env(**extra), module="tests.drills.launch_worker"
        )

    def start_beat(self, schedule: Path, name: str = "beat", **extra: str) -> Process:
        return self.processes.celery_beat(name, env=self.env(**extra), schedule=schedule)

    def stop_all(self) -> None:
        self.processes.stop_all()

    def logs(self) -> str:
        return self.processes.logs()

    def log_tails(self, lines: int = 40) -> str:
        return self.processes.log_tails(lines)

    # --- talking to it ---------------------------------------------------------------------------

    def client(self, username: str = "alice") -> requests.Session:
        """A browser logged in as `username` (alice: supervisor; sam: staff; root: superuser)."""
        session = requests.Session()
        session.cookies.set("sessionid", self.sessions[username], domain="127.0.0.1")
        return session

    def get(self, path: str, *, username: str = "alice", timeout: float = 20) -> requests.Response:
        return self.client(username).get(self.web_url + path, timeout=timeout)

    def cache(self) -> redis.Redis:
        return redis.Redis.from_url(self.cache_url, socket_timeout=2, socket_connect_timeout=1)

    @cached_property
    def sim_headers(self) -> dict[str, str]:
        """The simulated org's bearer token, which its control endpoints ask for."""
        response = requests.post(
            f"{self.sim_url}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(CLIENT_ID, CLIENT_SECRET),
            timeout=5,
        )
        assert response.ok, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def sim_stats(self) -> dict[str, Any]:
        return requests.get(f"{self.sim_url}/_stats", headers=self.sim_headers, timeout=5).json()

    def sim_faults(self, spec: str) -> None:
        response = requests.post(
            f"{self.sim_url}/_faults", json={"faults": spec}, headers=self.sim_headers, timeout=5
        )
        assert response.ok, response.text

    def job(self, job_id: str, *, username: str = "alice") -> dict[str, Any]:
        response = self.get(f"/api/jobs/{job_id}", username=username)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait_for_job(self, job_id: str, *, timeout: float = 40) -> dict[str, Any]:
        return wait_until(
            lambda: (job := self.job(job_id))["state"] in ("done", "failed") and job,
            timeout=timeout,
            interval=0.2,
            what=f"job {job_id} to finish",
        )

    def report(self, query: str = DAY_QUERY, *, username: str = "alice") -> requests.Response:
        return self.get(f"/api/report?{query}", username=username)


class DeadGenesys:
    """Stands in for a Genesys that is down: on the org's port, accept every connection and close
    it at once (the client sees a dropped connection, as from a failing load balancer), counting
    each, so a drill can tell a polite client from a retry storm."""

    def __init__(self, port: int) -> None:
        self.connections = 0
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))
        self._sock.listen(128)
        self._sock.settimeout(0.1)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stopped.set()
        self._thread.join(5)
        self._sock.close()


@contextmanager
def running_stack(tmp: Path, template: Path, sessions: dict[str, str]) -> Iterator[Stack]:
    """A fresh stack (nothing started yet) on the drills' Redis DB numbers, emptied before and
    after; every process it started is stopped on the way out."""
    flush_drill_dbs()
    stack = Stack(tmp=tmp, template_db=template, sessions=sessions)
    try:
        yield stack
    finally:
        stack.stop_all()
        flush_drill_dbs()


def flush_drill_dbs(redis_url: str = "redis://127.0.0.1:6379") -> None:
    for db in DRILL_DBS:
        redis.Redis.from_url(f"{redis_url}/{db}").flushdb()


def migrate_template(path: Path) -> dict[str, str]:
    """Migrate a SQLite database once and log in three users: alice, sam (staff) and root
    (superuser).

    Sessions are created directly (SessionStore) rather than through the login form: the drills
    test the stack, not the login page, and password hashing costs a second per login.
    """
    env = {name: os.environ[name] for name in PASSED_THROUGH if name in os.environ}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="true",
        SECRET_KEY=SECRET_KEY,
        SQLITE_PATH=str(path),
        GENESYS_SIMULATOR="false",
        GENESYS_CLIENT_ID=CLIENT_ID,
        GENESYS_CLIENT_SECRET=CLIENT_SECRET,
    )
    manage("migrate", "--noinput", "-v0", env=env)
    script = """
import json
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
keys = {}
for name, staff in (("alice", False), ("sam", True), ("root", True)):
    user = User.objects.create_user(name, is_staff=staff, is_superuser=name == "root")
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    keys[name] = session.session_key
print(json.dumps(keys))
"""
    output = manage("shell", "-c", script, env=env)
    return dict(orjson.loads(output.strip().splitlines()[-1]))
