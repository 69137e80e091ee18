"""A small HTTP/1.1 load generator, run in a process of its own: `python -m bench.loadgen ...`.

Two modes, both on one thread with non-blocking sockets (selectors), so the client costs little
CPU next to the server it measures:

- closed loop (`--concurrency N`): N requests always in flight; as one completes the next starts.
  Gives the most requests/s the server can answer. With `--connections M`, the requests go
  round M keep-alive connections opened one by one beforehand, as many browsers' would, instead
  of N connections opened at once (whose placement on the server's processes decides the result);
  with `--per-connection K`, each connection's K-th request asks the server to close it, and the
  client opens another.
- open loop (`--rate R`): requests are due at fixed times, R per second, whatever the server
  does. A request's latency counts from when it was due, not from when it was sent, so a server
  that falls behind shows it (no "coordinated omission").

Keep-alive is used whenever the server allows it, as browsers do (the benches' gunicorn runs
gthread workers, as production does); a server that answers `Connection: close` (gunicorn's
sync workers) makes each request open a new connection. The client waits for the
server's FIN before closing, so TIME_WAIT stays on the server side and the client never runs out
of ports. Prints one JSON object: requests, errors, statuses, requests/s, latency percentiles.
No Django here: this process must stay small and fast.
"""

from __future__ import annotations

import argparse
import errno
import math
import selectors
import socket
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import orjson

RECV_SIZE = 256 * 1024
# Answers that never have a body: a conditional GET's 304 among them.
NO_BODY_STATUSES = frozenset({204, 304})


@dataclass
class Slot:
    """One request in flight (and the connection it is on)."""

    sock: socket.socket
    due: float  # when the request was due (open loop) or sent (closed loop)
    connected: bool = False
    buffer: bytearray = field(default_factory=bytearray)
    head_end: int = -1
    length: int = -1  # Content-Length, -1 until the head is read (or when absent)
    status: int = 0
    close: bool = False
    reused: bool = False  # sent on a kept-alive connection


class LoadGenerator:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        path: str,
        cookie: str,
        extra: tuple[str, ...] = (),
        connections: int = 0,
        per_connection: int = 0,
    ) -> None:
        """`connections`: keep that many open (0: as many as are in flight); `per_connection`:
        the last request of a connection asks the server to close it (0: never)."""
        self.address = (host, port)
        headers = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Accept: application/json"]
        if cookie:
            headers.append(f"Cookie: {cookie}")
        headers += extra
        self.request = ("\r\n".join(headers) + "\r\n\r\n").encode()
        self.last_request = ("\r\n".join([*headers, "Connection: close"]) + "\r\n\r\n").encode()
        self.connections = connections
        self.per_connection = per_connection
        self.selector = selectors.DefaultSelector()
        # Keep-alive connections ready for a request, the one idle longest first: requests go
        # round all of them, as many browsers' would.
        self.idle: deque[socket.socket] = deque()
        self.sent: dict[socket.socket, int] = {}  # requests sent on each open connection
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.errors = 0
        self.recording = True
        self.in_flight = 0

    # -- one request -----------------------------------------------------------------------------

    def start(self, due: float, *, fresh: bool = False) -> bool:
        """Start one request; False if it failed at once (the server refused the connection).
        `fresh`: on a new connection, not a kept-alive one."""
        # A connection the server closed is opened again (`connections`), by whichever of its
        # processes accepts it then.
        if self.idle and not fresh and len(self.sent) >= self.connections:
            slot = Slot(sock=self.idle.popleft(), due=due, connected=True, reused=True)
            self.in_flight += 1
            self._send(slot)
            return True
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if sock.connect_ex(self.address) not in (0, errno.EINPROGRESS):
            sock.close()
            self._failed()
            return False
        self.in_flight += 1
        self.sent[sock] = 0
        self.selector.register(sock, selectors.EVENT_WRITE, Slot(sock=sock, due=due))
        return True

    def _send(self, slot: Slot) -> None:
        self.sent[slot.sock] = sent = self.sent.get(slot.sock, 0) + 1
        last = self.per_connection and sent >= self.per_connection
        try:
            # Small enough to go in one write.
            slot.sock.sendall(self.last_request if last else self.request)
        except OSError:
            self._drop(slot, failed=not slot.reused)
            if slot.reused:  # closed by the server while idle: a new connection, as below
                self.start(slot.due, fresh=True)
            return
        self.selector.register(slot.sock, selectors.EVENT_READ, slot)

    def on_event(self, slot: Slot | None, sock: socket.socket) -> None:
        """Handle one socket's readiness."""
        if slot is None:  # a closing connection: wait for the server's FIN, then close
            try:
                if sock.recv(RECV_SIZE):
                    return
            except OSError:
                pass
            self.selector.unregister(sock)
            sock.close()
            return
        if not slot.connected:
            self.selector.unregister(sock)
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                self.sent.pop(sock, None)
                sock.close()
                self.in_flight -= 1
                self._failed()
                return
            slot.connected = True
            self._send(slot)
            return
        try:
            chunk = sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = None  # reset: the same as a close, below
        if not chunk and slot.reused and not slot.buffer:
            # The server closed the kept-alive connection as the request went out (its
            # keep-alive timeout): send it again on a new one, as a browser does.
            self._drop(slot, failed=False)
            self.start(slot.due, fresh=True)
            return
        if chunk is None:
            self._drop(slot)
            return
        if not chunk:
            if slot.head_end >= 0 and slot.length < 0:  # a body delimited by EOF
                self._done(slot, reuse=False)
            else:
                self._drop(slot)
            return
        slot.buffer += chunk
        if slot.head_end < 0:
            slot.head_end = slot.buffer.find(b"\r\n\r\n")
            if slot.head_end < 0:
                return
            head = bytes(slot.buffer[: slot.head_end]).lower()
            slot.status = int(head[9:12])
            if slot.status in NO_BODY_STATUSES:
                slot.length = 0  # whatever Content-Length says (RFC 9110 6.4.1)
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name == b"content-length" and slot.status not in NO_BODY_STATUSES:
                    slot.length = int(value)
                elif name == b"connection" and b"close" in value:
                    slot.close = True
        if slot.length >= 0 and len(slot.buffer) - slot.head_end - 4 >= slot.length:
            self._done(slot, reuse=not slot.close)

    def _done(self, slot: Slot, *, reuse: bool) -> None:
        self.in_flight -= 1
        if self.recording:
            self.latencies.append(time.perf_counter() - slot.due)
            self.statuses[slot.status] += 1
        if reuse:
            self.selector.unregister(slot.sock)
            self.idle.append(slot.sock)
        else:
            self.sent.pop(slot.sock, None)  # closing: no longer one of the open connections
            self.selector.modify(slot.sock, selectors.EVENT_READ, None)

    def _drop(self, slot: Slot, *, failed: bool = True) -> None:
        try:
            self.selector.unregister(slot.sock)
        except (KeyError, ValueError):
            pass
        self.sent.pop(slot.sock, None)
        slot.sock.close()
        self.in_flight -= 1
        if failed:
            self._failed()

    def _failed(self) -> None:
        if self.recording:
            self.errors += 1

    # -- the two loops ---------------------------------------------------------------------------

    def closed_loop(
        self, *, concurrency: int, duration: float, min_requests: int, max_duration: float
    ) -> float:
        """Keep `concurrency` requests in flight for `duration` s (and until `min_requests` have
        been started), then let those in flight finish: every request started is counted, and
        none is left running on the server to slow down whatever is measured next."""
        started = time.perf_counter()
        while True:
            elapsed = time.perf_counter() - started
            begun = len(self.latencies) + self.errors + self.in_flight
            stopping = elapsed >= max_duration or (elapsed >= duration and begun >= min_requests)
            if stopping and (not self.in_flight or elapsed >= max_duration + 60):
                return elapsed
            while not stopping and self.in_flight < concurrency and self.start(time.perf_counter()):
                pass
            self.poll(0.05)

    def open_loop(self, *, rate: float, duration: float, max_in_flight: int) -> float:
        interval = 1.0 / rate
        total = math.ceil(rate * duration)
        started = time.perf_counter()
        waiting: deque[float] = deque()  # due times of requests not sent yet
        scheduled = 0
        while scheduled < total or waiting or self.in_flight:
            now = time.perf_counter()
            if now - started > duration * 3 + 30:
                break  # a server that stopped answering: report what came back
            while scheduled < total and started + scheduled * interval <= now:
                waiting.append(started + scheduled * interval)
                scheduled += 1
            while waiting and self.in_flight < max_in_flight:
                self.start(waiting.popleft())
            next_due = started + scheduled * interval if scheduled < total else now + 0.05
            self.poll(max(0.0, next_due - now))
        return time.perf_counter() - started

    def connect_one_by_one(self, count: int, *, timeout: float) -> None:
        """Open `count` keep-alive connections one after another, each with a request answered
        before the next opens, as browsers arriving over time do. Opened in the same
        millisecond, a handful of connections can all land on one of the server's processes;
        one by one, each goes to whichever accepts it then. Not recorded."""
        recording, self.recording = self.recording, False
        for _ in range(count):
            self.start(time.perf_counter(), fresh=True)
            self.drain(timeout)
        self.recording = recording

    def drain(self, timeout: float) -> None:
        """Let the requests in flight finish, starting none."""
        deadline = time.perf_counter() + timeout
        while self.in_flight and time.perf_counter() < deadline:
            self.poll(0.05)

    def poll(self, timeout: float) -> None:
        for key, _mask in self.selector.select(timeout=timeout):
            self.on_event(key.data, key.fileobj)  # type: ignore[arg-type]


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def summary(generator: LoadGenerator, seconds: float) -> dict[str, Any]:
    values = sorted(generator.latencies)
    # A 304 answers a conditional GET as intended (bench "polling").
    ok = sum(
        count
        for status, count in generator.statuses.items()
        if 200 <= status < 300 or status == 304
    )
    return {
        "requests": len(values),
        "ok": ok,
        "errors": generator.errors,
        "statuses": {str(status): count for status, count in generator.statuses.items()},
        "seconds": seconds,
        "rps": len(values) / seconds if seconds else 0.0,
        "p50": percentile(values, 0.50),
        "p90": percentile(values, 0.90),
        "p99": percentile(values, 0.99),
        "max": values[-1] if values else float("nan"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--cookie", default="")
    parser.add_argument(
        "--header", action="append", default=[], help="another request header, 'Name: value'"
    )
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds not recorded")
    parser.add_argument("--concurrency", type=int, default=8, help="closed loop: in flight")
    parser.add_argument(
        "--connections",
        type=int,
        default=0,
        help="closed loop: keep-alive connections the requests go round, opened one by one "
        "(default: one per request in flight, opened as needed)",
    )
    parser.add_argument(
        "--per-connection",
        type=int,
        default=0,
        help="requests on one connection, the last asking the server to close it; the client "
        "then opens another, as a browser does after an idle poll (default: no limit)",
    )
    parser.add_argument("--min-requests", type=int, default=0, help="closed loop: at least")
    parser.add_argument("--max-duration", type=float, default=120.0)
    parser.add_argument("--rate", type=float, default=0.0, help="open loop: requests/s")
    args = parser.parse_args(argv)
    if args.host != "127.0.0.1":
        parser.error("benchmarks only ever send traffic to 127.0.0.1")

    generator = LoadGenerator(
        host=args.host,
        port=args.port,
        path=args.path,
        cookie=args.cookie,
        extra=tuple(args.header),
        connections=args.connections,
        per_connection=args.per_connection,
    )
    if args.connections:
        generator.connect_one_by_one(args.connections, timeout=args.max_duration)
    if args.warmup > 0:
        generator.recording = False
        if args.rate:
            generator.open_loop(rate=args.rate, duration=args.warmup, max_in_flight=256)
        else:
            generator.closed_loop(
                concurrency=args.concurrency,
                duration=args.warmup,
                min_requests=0,
                max_duration=args.warmup,
            )
        generator.drain(timeout=args.max_duration)
        generator.recording = True
    if args.rate:
        seconds = generator.open_loop(rate=args.rate, duration=args.duration, max_in_flight=256)
    else:
        seconds = generator.closed_loop(
            concurrency=args.concurrency,
            duration=args.duration,
            min_requests=args.min_requests,
            max_duration=args.max_duration,
        )
    sys.stdout.write(orjson.dumps(summary(generator, seconds)).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
