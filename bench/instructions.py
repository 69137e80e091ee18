"""Instructions a request costs the server, counted by valgrind's callgrind: the same count for
the same code, however busy the machine.

On a shared machine a throughput ratio moves by a third between rounds (docs/PERFORMANCE.md,
2026-12-02 evening); a change of a few per cent in a hit's cost cannot be seen there. Callgrind
counts instructions instead of time: a child process (this module run with -m) calls the WSGI
application in process WARMUP + N times, once with N = 0 and once with N = `requests`, and the
difference of the two totals over N is what one request executes, Python's start and Django's
imports cancelling out. Instructions are not time (a cache miss or a system call costs more
than its count), so this figure shows what a change removed, and the throughput tables what a
server gains.

Run by a bench: `python -m bench.instructions PATH STATUS N PORT COOKIE [META=VALUE ...]`, with the
bench's environment (bench/stack.py stack_open), against its seeded Redis.
"""

from __future__ import annotations

import gc
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping

from bench import stack

WARMUP = 30
# The child is about fifty times slower under valgrind: a check Django makes once a second
# (pending revocations, dashboard.revocations) would come every few requests there, not every
# few thousand as it does in a server, and be counted as part of each.
_CHILD_ENVIRON = {"PYTHONHASHSEED": "0", "CACHE_REVOCATION_POLL_SECONDS": "86400"}
_COLLECTED = re.compile(rb"Collected : (\d+)")


def available() -> bool:
    return shutil.which("valgrind") is not None


def per_request(
    st: stack.Stack,
    path: str,
    *,
    requests: int,
    expect: str = "200",
    environ: Mapping[str, str] | None = None,
) -> float:
    """Instructions one GET of `path` executes in the server process (the view, Django, the
    middleware and redis-py; not Redis, the kernel or gunicorn's sockets). Every answer must
    have the `expect` status: another answer is another request's cost."""
    args = (path, expect, environ or {})
    # Once without valgrind first, to write the compiled modules both counted runs then load
    # alike (two runs compiling at once count whatever the other had not written yet).
    _collected(_start(st, *args, count=0, counted=False))
    runs = [_start(st, *args, count=count) for count in (0, requests)]
    idle, counted = (_collected(run) for run in runs)
    return (counted - idle) / requests


def _start(
    st: stack.Stack,
    path: str,
    expect: str,
    environ: Mapping[str, str],
    *,
    count: int,
    counted: bool = True,
) -> subprocess.Popen[bytes]:
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"] if counted else []
    command += [sys.executable, "-m", "bench.instructions", path, expect, str(count), str(st.port)]
    command += [st.cookie_header, *(f"{name}={value}" for name, value in environ.items())]
    child = {**os.environ, **_CHILD_ENVIRON}
    # Compiled modules kept: Django's imports from source under valgrind take a minute a run.
    child.pop("PYTHONDONTWRITEBYTECODE", None)
    return subprocess.Popen(
        command, cwd=stack.ROOT, env=child, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def _collected(run: subprocess.Popen[bytes]) -> int:
    """The instructions callgrind counted in the run (0 for a run without valgrind)."""
    out, err = run.communicate(timeout=600)
    found = _COLLECTED.search(err)
    if run.returncode != 0 or (found is None and run.args[0] == "valgrind"):
        tail = (out + err).decode(errors="replace")[-2000:]
        raise RuntimeError(f"callgrind run failed ({run.returncode}): {tail}")
    return int(found.group(1)) if found else 0


def main(argv: list[str]) -> None:
    path, expect, count, port, cookie_header = argv[0], argv[1], int(argv[2]), int(argv[3]), argv[4]
    environ = dict(each.split("=", 1) for each in argv[5:])
    from bench.wsgi import application

    def call() -> None:
        status, _headers = stack.wsgi_call(
            application, path, port=port, cookie_header=cookie_header, environ=environ
        )
        if not status.startswith(expect):
            raise SystemExit(f"{path} answered {status} under callgrind, not {expect}")

    for _ in range(WARMUP):
        call()
    # What start-up left is a long-running server's permanent state. Unfrozen, the first full
    # collection, traversing all of Django (about 36 million instructions), came in the counted
    # run and not the idle one, and added 36M / N to each request: 1.69 million at N = 200,
    # 1.50 at N = 20, where a server that has run a while pays close to nothing for it.
    gc.collect()
    gc.freeze()
    for _ in range(count):
        call()


if __name__ == "__main__":
    main(sys.argv[1:])
