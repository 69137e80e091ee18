"""Bench "polling": what a dashboard that repeats itself costs (auto-refresh, wallboards).

- An unchanged report polled with If-None-Match: GET /api/report (the product: middleware,
  session and user from Redis, one small Redis read, 304) against the bare 304 view
  (bench/wsgi.py: one Redis GET of the ETag, no Django), closed loop, keep-alive, back to back
  in rounds; and the bytes of one poll on the wire, request and answer.
- The bytes of the 7-day, 30-minute report on the wire: gzip (the payload as the worker stored
  it, the envelope around it) against the raw JSON.
"""

from __future__ import annotations

import socket
from typing import Any

import requests

from bench import instructions, stack
from bench.bench_cached import COUNTED_REQUESTS, DAYS, _loadgen, connections_for
from bench.common import BenchResult, Table, fmt_ms, fmt_num, fmt_ratio, median, medians, ratio

NAME = "polling"
PER_DAY = 2000
CONCURRENCY = 4
VIEWS = ("ours", "bare 304")
POLL_BYTES_TARGET = 1024
COMPRESSED_TARGET = 0.25
POLL_TARGET = 0.5


def run(st: stack.Stack) -> BenchResult:
    result = BenchResult(NAME)
    stack.server_start(st, per_day=PER_DAY)
    path = _seed()
    wire = _report_bytes(st, path)
    etag = wire["etag"]
    stack.redis_db("cache").set(stack.BARE_304_KEY, etag)
    poll = _poll_bytes(st, path, etag=etag)

    duration = 1.0 if st.quick else 2.5
    paths = {"ours": path, "bare 304": stack.BARE_304_PATH}
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in VIEWS}
    for _ in range(st.runs):
        for name in VIEWS:
            samples[name].append(
                _loadgen(
                    st,
                    path=paths[name],
                    duration=duration,
                    concurrency=CONCURRENCY,
                    warmup=0.5,
                    min_requests=CONCURRENCY,
                    headers=(f"If-None-Match: {etag}",),
                )
            )
    closed = {name: medians(samples[name]) for name in VIEWS}
    share = median(
        [ratio(samples["ours"][i]["rps"], samples["bare 304"][i]["rps"]) for i in range(st.runs)]
    )

    polls = Table(
        f"7. An unchanged {DAYS}-day report polled with If-None-Match, {PER_DAY:,}/day: "
        f"gunicorn -w {stack.SERVER_WORKERS} gthread, closed loop ({CONCURRENCY} in flight over "
        f"{connections_for(CONCURRENCY)} keep-alive connections), "
        f"median of {st.runs}",
        ["view", "req/s", "runs' req/s", "p50", "p99", "vs bare 304"],
    )
    for name in VIEWS:
        found = closed[name]
        polls.add(
            name,
            fmt_num(found["rps"]),
            ", ".join(fmt_num(value) for value in found["rps_all"]),
            fmt_ms(found["p50"]),
            fmt_ms(found["p99"]),
            fmt_ratio(share) if name == "ours" else "1.00x",
        )
    polls.notes.append(
        f"One poll on the wire: {poll['request']:,} bytes asked (the session cookie and the "
        f"ETag), {poll['response']:,} bytes answered (a 304: headers only, the CSP among them)."
    )
    sizes = Table(
        f"7b. The {DAYS}-day, 30-minute report on the wire (GET /api/report, body bytes)",
        ["encoding", "bytes", "vs raw"],
    )
    compressed_share = wire["gzip"] / wire["identity"]
    sizes.add("identity (raw JSON)", f"{wire['identity']:,}", "1.00x")
    sizes.add("gzip (stored once by the worker)", f"{wire['gzip']:,}", fmt_ratio(compressed_share))
    result.tables += [polls, sizes]
    if instructions.available():
        counted = _instructions(st, paths, etag=etag)
        result.figures["instructions"] = counted
        table = Table(
            "7c. Instructions a poll in the server process, counted by valgrind's callgrind "
            "(bench/instructions.py)",
            ["view", "instructions", "vs bare 304"],
        )
        for name in VIEWS:
            ours_over = ratio(counted[name], counted["bare 304"])
            table.add(name, f"{counted[name]:,.0f}", fmt_ratio(ours_over))
        result.tables.append(table)
    result.figures.update(
        closed=closed,
        poll_vs_bare_304=share,
        poll_bytes=poll,
        report_bytes=wire,
        compressed_share=compressed_share,
    )
    result.target("a 304 poll >= 0.5x the bare 304 view", fmt_ratio(share), share >= POLL_TARGET)
    poll_total = poll["request"] + poll["response"]
    result.target(
        "bytes per poll < 1 KB (request and answer)",
        f"{poll_total:,} B",
        poll_total < POLL_BYTES_TARGET,
    )
    result.target(
        f"{DAYS}-day report on the wire, compressed vs raw <= 1/4",
        fmt_ratio(compressed_share),
        compressed_share <= COMPRESSED_TARGET,
    )
    return result


def _instructions(st: stack.Stack, paths: dict[str, str], *, etag: str) -> dict[str, float]:
    return {
        name: instructions.per_request(
            st,
            paths[name],
            requests=20 if st.quick else COUNTED_REQUESTS,
            expect="304",
            environ={"HTTP_IF_NONE_MATCH": etag},
        )
        for name in VIEWS
    }


def _seed() -> str:
    """bench 1's report (the GraphQL source, 7 days at 30 min), cached unless it already is."""
    from analytics_worker import cache

    first, last = stack.past_days(DAYS)
    params = stack.report_params(first=first, last=last, source="graphql")
    spec = stack.report_spec(params)
    if cache.result_get(report_key=spec.key) is None:
        stack.report_seed(spec)
    return f"/api/report?{stack.query_string(params)}"


def _report_bytes(st: stack.Stack, path: str) -> dict[str, Any]:
    """Body bytes as sent, gzip and identity, and the ETag."""
    found: dict[str, Any] = {}
    for encoding in ("gzip", "identity"):
        response = requests.get(
            st.base_url + path,
            headers={"Cookie": st.cookie_header, "Accept-Encoding": encoding},
            stream=True,
            timeout=60,
        )
        response.raise_for_status()
        body = response.raw.read(decode_content=False)
        if response.headers.get("Content-Encoding", "identity") != encoding:
            raise RuntimeError(f"asked for {encoding}, got {response.headers}")
        found[encoding] = len(body)
        found["etag"] = response.headers["ETag"]
    return found


def _poll_bytes(st: stack.Stack, path: str, *, etag: str) -> dict[str, int]:
    """One poll's request and answer as they cross the socket."""
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{st.port}\r\nAccept: application/json\r\n"
        f"Cookie: {st.cookie_header}\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", st.port), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    if not answer.startswith(b"HTTP/1.1 304"):
        raise RuntimeError(f"the poll answered {answer[:40]!r}, not 304")
    return {"request": len(request), "response": len(answer)}
