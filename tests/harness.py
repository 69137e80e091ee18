"""Real processes for the tests and benches that need them: gunicorn, Celery workers and beat,
a private redis-server, and `manage.py` commands.

Used by the failure drills (tests/drills/stack.py), the worker integration test
(tests/analytics_worker/test_worker_integration.py) and the benchmarks (bench/stack.py). Each
start waits for what the process must have done before it is of use (a log line, a health
answer, a ping), never for a fixed time: the machine may be busy. A start that
fails kills what it started and fails with the end of the process's log.

Every process gets a session of its own, so stopping it reaches the children it forked
(gunicorn's and Celery's workers), and writes one log file of its own; `Processes` stops a
test's processes together and gathers their logs.

This module is also the gunicorn config of the servers started here (`--config
python:tests.harness`): gunicorn applies every module-level name that is one of its settings, so
`post_worker_init` must stay the only such name.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import redis
import requests

ROOT = Path(__file__).resolve().parents[1]
# Printed by each gunicorn worker once it has loaded the application (post_worker_init below).
GUNICORN_WORKER_READY = "harness: gunicorn worker ready"
START_SECONDS = 60

T = TypeVar("T")


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


def manage(*args: str, env: Mapping[str, str]) -> str:
    """Run `manage.py` with `args`; its standard output, or a failure showing all it printed."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode:
        raise AssertionError(
            f"manage.py {args[0]} exited {done.returncode}:\n{done.stdout}{done.stderr}"
        )
    return done.stdout


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

    def log_tail(self, lines: int = 40) -> str:
        tail = "\n".join(self.log_text().splitlines()[-lines:])
        return f"----- {self.name} (pid {self.pid}) -----\n{tail}"

    def _signal_group(self, signum: signal.Signals) -> None:
        # Only while the main process is unreaped: after that its pid (the group's id) may belong
        # to someone else's process.
        if self.alive():
            # It may exit between the check and the signal.
            with suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signum)

    def kill(self) -> None:
        """SIGKILL the whole process group: the main process and every child it forked."""
        self._signal_group(signal.SIGKILL)
        self.popen.wait(10)

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM the process group (each process shuts down cleanly), SIGKILL after `timeout`."""
        if not self.alive():
            return
        self._signal_group(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def wait_for(self, check: Callable[[], object], *, what: str, timeout: float) -> None:
        """Wait until `check()` is truthy, failing at once if the process exits first; killed on
        failure, so a start that failed leaves nothing running."""
        try:
            wait_until(lambda: not self.alive() or check(), timeout=timeout, what=what)
        except AssertionError as exc:
            self.kill()
            raise AssertionError(f"{self.name}: {exc}\n{self.log_tail()}") from None
        if not self.alive():
            raise AssertionError(
                f"{self.name} exited ({self.popen.returncode}) before {what}\n{self.log_tail()}"
            )


def spawn(
    name: str, args: Sequence[str], *, log_dir: Path, env: Mapping[str, str] | None = None
) -> Process:
    """Start `args` in the repository root, in a session of its own, writing to a log file of its
    own in `log_dir` (`name.log`, or `name-2.log` ... when a process of that name ran before)."""
    log = log_dir / f"{name}.log"
    number = 1
    while log.exists():
        number += 1
        log = log_dir / f"{name}-{number}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(
            list(args),
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            # Its own process group, so stop() and kill() reach the children it forks too.
            start_new_session=True,
        )
    return Process(name, popen, log)


def post_worker_init(worker: Any) -> None:
    """gunicorn's hook, run in each worker once it has loaded the application."""
    # gunicorn's own "Booting worker" line comes before the (slow) application load, and it logs
    # nothing after it. Printed rather than logged, so it shows at any --log-level.
    print(f"{GUNICORN_WORKER_READY} pid={os.getpid()}", file=sys.stderr, flush=True)


@dataclass
class Processes:
    """The processes one test (or bench run) started: stopped together, their logs gathered."""

    log_dir: Path
    started: list[Process] = field(default_factory=list)

    def spawn(self, name: str, args: Sequence[str], *, env: Mapping[str, str]) -> Process:
        process = spawn(name, args, log_dir=self.log_dir, env=env)
        self.started.append(process)
        return process

    def gunicorn(
        self,
        name: str,
        app: str,
        *,
        port: int,
        env: Mapping[str, str],
        ready_url: str,
        ready_statuses: Collection[int] = (200,),
        workers: int = 2,
        options: Sequence[str] = (),
        timeout: float = START_SECONDS,
    ) -> Process:
        """gunicorn serving `app` on 127.0.0.1:`port`; ready when every worker has loaded the
        application and `ready_url` answers one of `ready_statuses`."""
        args = [sys.executable, "-m", "gunicorn", app, "--config", f"python:{__name__}"]
        args += ["--bind", f"127.0.0.1:{port}", "--workers", str(workers), *options]
        process = self.spawn(name, args, env=env)

        def ready() -> bool:
            # Every worker, not just the first to answer: a measurement or a drill that starts
            # while one worker still loads sees half a server.
            if process.log_text().count(GUNICORN_WORKER_READY) < workers:
                return False
            return requests.get(ready_url, timeout=5).status_code in ready_statuses

        process.wait_for(ready, what=f"{name} to answer {ready_url}", timeout=timeout)
        return process

    def celery_worker(
        self,
        name: str,
        *,
        env: Mapping[str, str],
        node: str | None = None,
        module: str = "celery",
        timeout: float = START_SECONDS,
    ) -> Process:
        """`python -m <module> -A config worker` (concurrency 2, node `node`, default
        `name@%h`); ready when it has connected to the broker and logs " ready."."""
        args = [sys.executable, "-m", module, "-A", "config", "worker", "--loglevel", "INFO"]
        args += ["--concurrency", "2", "--without-gossip", "--without-mingle"]
        args += ["-n", node or f"{name}@%h"]
        process = self.spawn(name, args, env=env)
        process.wait_for(
            lambda: " ready." in process.log_text(), what=f"{name} to start", timeout=timeout
        )
        return process

    def celery_beat(
        self, name: str, *, env: Mapping[str, str], schedule: Path, timeout: float = 30
    ) -> Process:
        """`celery -A config beat` keeping its schedule in `schedule`; ready when it has started."""
        args = [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO"]
        args += ["--schedule", str(schedule)]
        process = self.spawn(name, args, env=env)
        process.wait_for(
            lambda: "beat: Starting" in process.log_text(), what=f"{name} to start", timeout=timeout
        )
        return process

    def stop_all(self, timeout: float = 15) -> None:
        # The last started first: a worker goes before the server it talks to.
        for process in reversed(self.started):
            process.stop(timeout=timeout)

    def logs(self) -> str:
        return "\n".join(process.log_text() for process in self.started)

    def log_tails(self, lines: int = 40) -> str:
        return "\n".join(process.log_tail(lines) for process in self.started)


@dataclass
class RedisServer:
    """A private redis-server that a drill may kill and restart on the same port (never the
    machine's own)."""

    tmp: Path
    port: int = field(default_factory=free_port)
    process: Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10) -> None:
        # No persistence: a restart comes back empty, the worst case for the app.
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", str(self.tmp)]
        self.process = spawn(f"redis-{self.port}", args, log_dir=self.tmp)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        self.process.wait_for(client.ping, what="redis-server to answer PING", timeout=timeout)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
