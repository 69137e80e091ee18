"""The production stack as real processes, for the failure drills.

- the simulated org: its own gunicorn, so it can go down while everything else stays up;
- the web: gunicorn serving the dashboard, configured like a real org (GENESYS_CLIENT_ID set,
  GENESYS_API_URL pointing at the simulated org's server, DEBUG off);
- Celery workers and beat, started and killed by each drill;
- Redis: the machine's server on DB numbers of the drills' own, or a private redis-server.

Everything talks to 127.0.0.1 only. Each process writes a log file; `Stack.logs()` gathers them
so a drill can assert what was (or was not) logged.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson
import redis
import requests

ROOT = Path(__file__).resolve().parents[2]
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

T = TypeVar("T")


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc, so no procps is needed)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid ...": comm may hold spaces, so split after its ")".
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it exited while we looked
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    check: Callable[[], T], *, timeout: float, interval: float = 0.1, what: str = "condition"
) -> T:
    """Poll `check` until it returns something truthy; return it, or fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (requests.RequestException, redis.RedisError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL the whole process group: the main process and every child it forked."""
        if self.alive():
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def stop(self, timeout: float = 15) -> None:
        if not self.alive():
            return
        os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()


@dataclass
class Stack:
    tmp: Path
    template_db: Path
    sessions: dict[str, str]  # username -> session key, valid with SECRET_KEY
    redis_url: str = "redis://127.0.0.1:6379"
    sim_port: int = field(default_factory=free_port)
    web_port: int = field(default_factory=free_port)
    processes: list[Process] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.db_path = self.tmp / "db.sqlite3"
        shutil.copy(self.template_db, self.db_path)

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

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> Process:
        log = self.tmp / f"{name}.log"
        process = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            # Its own process group, so kill() reaches the pool children too.
            start_new_session=True,
        )
        started = Process(name, process, log)
        self.processes.append(started)
        return started

    def _gunicorn(self, name: str, port: int, env: dict[str, str]) -> Process:
        return self._spawn(
            name,
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--worker-class",
                "gthread",
                "--threads",
                "8",
                "--access-logfile",
                "-",
            ],
            env,
        )

    def start_sim(self, **extra: str) -> Process:
        env = self.env(GENESYS_SIMULATOR="true", **extra)
        process = self._gunicorn("sim", self.sim_port, env)
        wait_until(
            lambda: requests.get(f"{self.sim_url}/_stats", timeout=2).ok,
            timeout=20,
            what="the simulated org to answer",
        )
        return process

    def start_web(self, **extra: str) -> Process:
        process = self._gunicorn("web", self.web_port, self.env(**extra))
        wait_until(
            lambda: requests.get(f"{self.web_url}/healthz", timeout=5).status_code in (200, 503),
            timeout=20,
            what="the web server to answer",
        )
        return process

    def start_worker(self, name: str = "worker", **extra: str) -> Process:
        process = self._spawn(
            name,
            [
                sys.executable,
                "-m",
                "tests.drills.launch_worker",
                "-A",
                "config",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                "2",
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"{name}@%h",
            ],
            self.env(**extra),
        )
        wait_until(
            lambda: " ready." in process.log_text() or not process.alive(),
            timeout=40,
            what=f"{name} to start",
        )
        assert process.alive(), process.log_text()[-3000:]
        return process

    def start_beat(self, schedule: Path, name: str = "beat", **extra: str) -> Process:
        process = self._spawn(
            name,
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(schedule),
            ],
            self.env(**extra),
        )
        wait_until(
            lambda: "beat: Starting" in process.log_text() or not process.alive(),
            timeout=30,
            what=f"{name} to start",
        )
        assert process.alive(), process.log_text()[-3000:]
        return process

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            process.stop(timeout=10)

    def logs(self) -> str:
        return "\n".join(process.log_text() for process in self.processes)

    def log_tails(self, lines: int = 40) -> str:
        parts = []
        for process in self.processes:
            tail = "\n".join(process.log_text().splitlines()[-lines:])
            parts.append(f"----- {process.name} (pid {process.pid}) -----\n{tail}")
        return "\n".join(parts)

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

    def sim_stats(self) -> dict[str, Any]:
        return requests.get(f"{self.sim_url}/_stats", timeout=5).json()

    def sim_faults(self, spec: str) -> None:
        response = requests.post(f"{self.sim_url}/_faults", json={"faults": spec}, timeout=5)
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


@dataclass
class RedisServer:
    """A private redis-server that a drill may kill and restart (never the machine's own)."""

    tmp: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = (self.tmp / f"redis-{self.port}.log").open("ab")
        self.process = subprocess.Popen(
            # No persistence: a restart comes back empty, the worst case for the app.
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no", "--dir", str(self.tmp)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        wait_until(client.ping, timeout=10, what="redis-server to start")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


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
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )
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
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return dict(orjson.loads(result.stdout.strip().splitlines()[-1]))
