"""Bench 8, the live wallboard: 1, 10 and 100 screens watching the same 20 queues.

- Genesys cost: this process runs the live poller as beat would (analytics_worker.live.live_poll
  every LIVE_POLL_SECONDS, against the simulated org the bench server serves), while N screens
  (threads, each its own keep-alive connection and the bench user's session) ask /api/live every
  LIVE_PAGE_POLL_SECONDS with If-None-Match, as live.js does. Counted: observation requests the
  poller sent (gad_live_requests_total) and every request the simulated org saw, per minute.
- Staleness: for each new snapshot a screen sees, the time from the previous snapshot's as_of
  (the last moment the org was observed before it: a change right after it is in the new one)
  to when the screen had the new numbers: the worst case of "a change in the org -> the number
  on the screen".
- Speed: /api/live answering 200 with the snapshot (closed loop, then open-loop p99), against
  the ceiling view (bench/wsgi.py: the same bytes from one Redis GET, no Django), in the same
  run; and the 304 answer to If-None-Match called in process against the same ceiling.

The 20 queues are the org's 4 and 16 it does not have (Genesys answers zeros for those).
"""

from __future__ import annotations

import http.client
import threading
import time
from typing import Any

import orjson

from bench import stack
from bench.bench_cached import _loadgen, connections_for
from bench.common import BenchResult, Table, fmt_ms, fmt_num, fmt_ratio, median, ratio

NAME = "live"
SYNTHETIC = tuple(f"ffffffff-0000-4000-8000-{n:012x}" for n in range(16))
CONCURRENCY = 4
OPEN_RATE = 100.0


def _queue_ids() -> tuple[str, ...]:
    from genesys_sim import org

    return tuple(sorted({q.id for q in org.QUEUES} | set(SYNTHETIC)))


def run(st: stack.Stack) -> BenchResult:
    from django.test import override_settings

    result = BenchResult(NAME)
    stack.server_start(st, per_day=2000)
    poll_seconds = 2 if st.quick else 10
    page_seconds = 2
    duration = 8.0 if st.quick else 120.0
    screen_counts = (1, 10) if st.quick else (1, 10, 100)
    queue_ids = _queue_ids()
    path = "/api/live?" + "&".join(f"queue={q}" for q in queue_ids)

    cost = Table(
        f"8. Live wallboard: screens watching the same {len(queue_ids)} queues for "
        f"{duration:.0f} s, poll every {poll_seconds} s, each screen asks every {page_seconds} s",
        [
            "screens",
            "polls",
            "observation requests/min",
            "all requests to Genesys/min",
            "/api/live reads",
            "304s",
            "staleness p50",
            "staleness max",
        ],
    )
    runs: dict[int, dict[str, Any]] = {}
    with override_settings(LIVE_POLL_SECONDS=poll_seconds, LIVE_PAGE_POLL_SECONDS=page_seconds):
        for screens in screen_counts:
            runs[screens] = _watch(
                st, path=path, screens=screens, duration=duration, poll_seconds=poll_seconds,
                page_seconds=page_seconds,
            )  # fmt: skip
            found = runs[screens]
            cost.add(
                screens,
                found["polls"],
                fmt_num(found["poll_requests_per_minute"], 1),
                fmt_num(found["org_requests_per_minute"], 1),
                f"{found['reads']:,}",
                f"{found['not_modified']:,}",
                fmt_ms(found["staleness_p50"]),
                fmt_ms(found["staleness_max"]),
            )
        speed = _speed(st, path=path)
    cost.notes.append(
        "Requests counted at the one function that sends HTTP to Genesys (transport.http_send) "
        "in the poller's process: the observation queries, and all of them (the token and the "
        "queue list included). Today's reports are looked up in the cache; no Celery worker "
        "runs here, so a miss stays queued and costs nothing."
    )
    speed_table = Table(
        "8b. /api/live vs the ceiling view (same bytes from one Redis GET), in the same run",
        [
            "view",
            f"req/s (closed, {CONCURRENCY} in flight over {connections_for(CONCURRENCY)} connections)",
            "p50",
            f"p99 at {OPEN_RATE:.0f}/s",
            "vs ceiling",
        ],
    )
    for name in ("ours", "ceiling"):
        found = speed[name]
        speed_table.add(
            name,
            fmt_num(found["rps"]),
            fmt_ms(found["p50"]),
            fmt_ms(found["open_p99"]),
            fmt_ratio(speed["share"]) if name == "ours" else "1.00x",
        )
    speed_table.add(
        "304 in process (µs)",
        "",
        f"{speed['in_process']['not_modified']:,.0f} µs",
        "",
        fmt_ratio(ratio(speed["in_process"]["ceiling"], speed["in_process"]["not_modified"])),
    )
    speed_table.notes.append(
        "The 304 row is the WSGI application called in this process (no sockets): the "
        "ceiling's µs a request over the 304's, as a throughput ratio."
    )
    result.tables += [cost, speed_table]
    result.figures.update({"runs": runs, "speed": speed, "poll_seconds": poll_seconds})
    expected = 60 / poll_seconds  # one request per poll for 20 queues
    least, most = screen_counts[0], screen_counts[-1]
    per_minute = {n: runs[n]["poll_requests_per_minute"] for n in screen_counts}
    result.target(
        f"Genesys requests/min the same for {least} and {most} screens "
        f"({expected:.0f}/min at a {poll_seconds} s poll)",
        " / ".join(f"{n}: {fmt_num(per_minute[n], 1)}" for n in screen_counts),
        all(abs(v - expected) <= max(1.0, 0.15 * expected) for v in per_minute.values()),
    )
    result.target(
        "/api/live throughput >= 0.5x the ceiling view", fmt_ratio(speed["share"]),
        speed["share"] >= 0.5,
    )  # fmt: skip
    # NaN (a run too short to see two snapshots) is no figure, and no pass either.
    worst = max((runs[n]["staleness_max"] for n in screen_counts), key=lambda v: (v != v, v))
    result.target(
        f"staleness <= poll interval + 3 s ({poll_seconds + 3} s)",
        fmt_ms(worst),
        worst <= poll_seconds + 3,
    )
    return result


def _clear_live_keys() -> None:
    from analytics_worker.redis_client import get_redis, redis_key

    client = get_redis()
    for key in client.scan_iter(match=redis_key("live", "*")):
        client.delete(key)


def _watch(
    st: stack.Stack,
    *,
    path: str,
    screens: int,
    duration: float,
    poll_seconds: float,
    page_seconds: float,
) -> dict[str, Any]:
    from analytics_worker import live
    from analytics_worker.genesys import transport

    _clear_live_keys()
    stack.sim_reset(st)
    stop = threading.Event()
    polls: list[str] = []
    # Every HTTP request this process sends goes through transport.http_send (the token's too):
    # counted there, by path, while the poller runs.
    sent: list[str] = []
    http_send = transport.http_send

    def counted_send(method: str, url: str, **kwargs: Any) -> Any:
        sent.append(url)
        return http_send(method, url, **kwargs)

    transport.http_send = counted_send  # type: ignore[assignment]

    def poller() -> None:
        # As beat does: one tick every poll_seconds, on the clock.
        next_at = time.monotonic()
        while not stop.is_set():
            polls.append(live.live_poll())
            next_at += poll_seconds
            stop.wait(max(0.0, next_at - time.monotonic()))

    seen: list[list[tuple[float, str, float | None]]] = [[] for _ in range(screens)]
    counts = {"reads": 0, "not_modified": 0, "errors": 0}
    lock = threading.Lock()

    def screen(number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", st.port, timeout=30)
        etag = ""
        # Screens start spread over one page interval, as real ones would.
        stop.wait(page_seconds * number / screens)
        while not stop.is_set():
            started = time.monotonic()
            headers = {"Cookie": st.cookie_header, "Accept": "application/json"}
            if etag:
                headers["If-None-Match"] = etag
            try:
                try:
                    connection.request("GET", path, headers=headers)
                    response = connection.getresponse()
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                    # The server closed the kept-alive connection as this request went out
                    # (gthread's keep-alive timeout): a browser sends it again on a new one.
                    connection.close()
                    connection = http.client.HTTPConnection("127.0.0.1", st.port, timeout=30)
                    connection.request("GET", path, headers=headers)
                    response = connection.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException):
                with lock:
                    counts["errors"] += 1
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", st.port, timeout=30)
                stop.wait(page_seconds)
                continue
            with lock:
                counts["reads"] += 1
                counts["not_modified"] += response.status == 304
                counts["errors"] += response.status not in (200, 304)
            if response.status == 200:
                etag = response.getheader("ETag") or ""
                document = orjson.loads(body)
                seen[number].append((time.time(), etag, document.get("as_of")))
            stop.wait(max(0.0, page_seconds - (time.monotonic() - started)))
        connection.close()

    threads = [threading.Thread(target=poller, daemon=True)]
    threads += [threading.Thread(target=screen, args=(n,), daemon=True) for n in range(screens)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    stop.wait(duration)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    elapsed = time.monotonic() - started
    transport.http_send = http_send  # type: ignore[assignment]
    observation_requests = sum(1 for url in sent if url.endswith("/observations/query"))
    staleness = []
    for observations in seen:
        as_ofs = [(at, as_of) for at, _, as_of in observations if as_of is not None]
        for (_, previous), (at, current) in zip(as_ofs, as_ofs[1:], strict=False):
            if current != previous:
                staleness.append(at - previous)
    staleness.sort()
    if counts["errors"]:
        raise RuntimeError(f"{counts['errors']} failed /api/live reads with {screens} screens")
    return {
        "polls": sum(1 for p in polls if p == "polled"),
        "poll_outcomes": polls,
        "poll_requests": observation_requests,
        "poll_requests_per_minute": observation_requests / elapsed * 60,
        "all_requests": len(sent),
        "org_requests_per_minute": len(sent) / elapsed * 60,
        "reads": counts["reads"],
        "not_modified": counts["not_modified"],
        "staleness_p50": median(staleness),
        "staleness_max": staleness[-1] if staleness else float("nan"),
        "seconds": elapsed,
    }


def _speed(st: stack.Stack, *, path: str) -> dict[str, Any]:
    import requests

    from bench.stack import CEILING_KEY, CEILING_PATH

    body = requests.get(
        st.base_url + path, headers={"Cookie": st.cookie_header}, timeout=30
    ).content
    stack.redis_db("cache").set(CEILING_KEY, body)
    found: dict[str, Any] = {}
    for name, view in (("ours", path), ("ceiling", CEILING_PATH)):
        closed = _loadgen(
            st, path=view, duration=1.0 if st.quick else 3.0, concurrency=CONCURRENCY,
            warmup=0.3, min_requests=CONCURRENCY,
        )  # fmt: skip
        opened = _loadgen(
            st, path=view, duration=1.0 if st.quick else 4.0, rate=OPEN_RATE, warmup=0.3
        )
        found[name] = {**closed, "open_p99": opened["p99"]}
    found["share"] = ratio(found["ours"]["rps"], found["ceiling"]["rps"])
    found["in_process"] = _in_process(st, path=path)
    return found


def _in_process(st: stack.Stack, *, path: str) -> dict[str, float]:
    """µs a request: /api/live answering 304 to If-None-Match, and the ceiling view."""
    from bench.stack import CEILING_PATH
    from bench.wsgi import application

    etag = ""

    def call(target: str, *, if_none_match: str = "") -> tuple[str, dict[str, str]]:
        return stack.wsgi_call(
            application,
            target,
            port=st.port,
            cookie_header=st.cookie_header,
            environ={"HTTP_IF_NONE_MATCH": if_none_match} if if_none_match else None,
        )

    status, headers = call(path)
    etag = headers.get("ETag", "")
    if not status.startswith("200") or not etag:
        raise RuntimeError(f"/api/live answered {status} without an ETag in process")

    count = 100 if st.quick else 300
    rounds = 1 if st.quick else 3

    def measure(target: str, expect: str, **kwargs: str) -> float:
        started = time.perf_counter()
        for _ in range(count):
            status, _ = call(target, **kwargs)
            if not status.startswith(expect):
                raise RuntimeError(f"{target} answered {status}, not {expect}")
        return (time.perf_counter() - started) / count * 1e6

    # The snapshot must not change while measured: no poller runs now, and the watcher is
    # renewed by each read.
    return {
        "not_modified": median([measure(path, "304", if_none_match=etag) for _ in range(rounds)]),
        "ceiling": median([measure(CEILING_PATH, "200") for _ in range(rounds)]),
    }
