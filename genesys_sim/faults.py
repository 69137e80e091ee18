"""Fault specs: the little language of X-Sim-Fault, GENESYS_SIM_FAULTS and POST /sim/_faults.

A spec is a comma-separated list of `KIND` or `KINDxN` (N requests in a row), for example
"429x3,500x2,slow:2". The kinds are listed in genesys_sim/README.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

STATUS_KINDS = ("500", "502", "503", "504")
PLAIN_KINDS = (*STATUS_KINDS, "429", "malformed", "expire", "drop")
TIMED_KINDS = ("429", "429date", "slow")
# Bounds, so that neither a typo nor a caller can turn fault injection into a way to load the
# server: a slow answer holds one of its workers for that long (a minute is already past any
# client's timeout), a queue of faults fills Redis, and the drills need no more than a few
# hundred. Retry-After costs the server nothing, but a client told to wait an hour is a test
# that hangs.
MAX_SLOW_SECONDS = 60
MAX_RETRY_AFTER_SECONDS = 600
MAX_REPEAT = 1_000
MAX_FAULTS = 1_000
# A plain "429" asks the client to come back at once, so retry loops stay quick in tests.
DEFAULT_RETRY_AFTER = 1

_ITEM = re.compile(
    r"^(?P<kind>\d+(?:date)?|[a-z]+)(?:[:=](?P<seconds>\d+(?:\.\d+)?))?(?:x(?P<repeat>\d+))?$"
)


class FaultSpecError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str  # one of PLAIN_KINDS or TIMED_KINDS
    seconds: float = 0.0  # Retry-After for 429 and 429date, the delay for slow

    def __str__(self) -> str:
        # The form kept in the Redis queue; parse_fault reads it back.
        return f"{self.kind}:{self.seconds:g}" if self.kind in TIMED_KINDS else self.kind


def parse_fault(text: str) -> Fault:
    """One fault, without a repeat count (the form stored in the Redis queue)."""
    faults = parse_faults(text)
    if len(faults) != 1:
        raise FaultSpecError(f"expected one fault, not {text!r}")
    return faults[0]


def parse_faults(spec: str) -> list[Fault]:
    """Every fault of a spec, repeats expanded, in order; an empty spec is an empty list."""
    faults: list[Fault] = []
    for item in (part.strip().lower() for part in spec.split(",")):
        if not item:
            continue
        match = _ITEM.match(item)
        if match is None:
            raise FaultSpecError(f"cannot read fault {item!r}")
        kind, seconds, repeat = match["kind"], match["seconds"], match["repeat"]
        if seconds is None and kind not in PLAIN_KINDS:
            known = ", ".join((*PLAIN_KINDS, "429:S", "429date:S", "slow:S"))
            raise FaultSpecError(f"unknown fault {item!r} (known: {known})")
        if seconds is not None and kind not in TIMED_KINDS:
            raise FaultSpecError(f"fault {kind!r} takes no seconds, in {item!r}")
        if kind in ("429", "429date") and seconds is not None and "." in seconds:
            raise FaultSpecError(f"Retry-After is whole seconds, in {item!r}")
        count = int(repeat) if repeat is not None else 1
        if not 1 <= count <= MAX_REPEAT:
            raise FaultSpecError(f"repeat count must be 1 to {MAX_REPEAT}, in {item!r}")
        if len(faults) + count > MAX_FAULTS:
            raise FaultSpecError(f"a spec may hold at most {MAX_FAULTS} faults, in {item!r}")
        limit = MAX_SLOW_SECONDS if kind == "slow" else MAX_RETRY_AFTER_SECONDS
        if seconds is not None and float(seconds) > limit:
            raise FaultSpecError(f"{kind} takes at most {limit} seconds, in {item!r}")
        if seconds is not None:
            fault = Fault(kind, float(seconds))
        elif kind == "429":
            fault = Fault(kind, float(DEFAULT_RETRY_AFTER))
        else:
            fault = Fault(kind)
        faults.extend([fault] * count)
    return faults
