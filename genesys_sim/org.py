"""The simulated org's data: a deterministic synthetic contact centre that is never stored.

Every minute of time has its own conversations, made from (GENESYS_SIM_SEED, minute) alone: the
number of arrivals comes from a hash of the pair, everything else from a random generator seeded
with it. So a minute looks the same whatever window asks for it, any range streams minute by
minute in constant memory, and a position (minute, index) is enough to resume a scan, which is
what the GraphQL page tokens carry.

Inside a minute the draws come in a fixed order (kinds, start offsets, details), so counting can
stop after the kinds: `count_conversations` never builds a conversation, and with no filter it
never even seeds the generator.

A conversation is one of a few kinds (queue, media type, direction, route: through a queue,
agent outbound, direct or internal, and a second queue when transferred), and is made of legs:
a queue offer and the agent who answered it, or an agent working it without a queue. Each leg
emits its metrics (`Leg.queue_metrics`, `Leg.agent_metrics`) at the moment Genesys does, which
is what the REST views read; README.md says what each view makes of them.
"""

from __future__ import annotations

import math
import random
from bisect import bisect
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from statistics import NormalDist
from typing import NamedTuple

from django.conf import settings

MINUTE_MS = 60_000
# Every media type a conversation can have; the queues take the first five (Genesys's
# QueueMediaSettings has no video), so "every listed queue type" is not "everything".
MEDIA_TYPES = ("voice", "callback", "chat", "email", "message", "video")
QUEUE_MEDIA_TYPES = ("voice", "callback", "chat", "email", "message")
DIRECTIONS = ("inbound", "outbound")
# How a conversation reaches an agent: offered by a queue (ACD), placed by the agent (outbound),
# dialled straight to the agent from outside (direct), or from another extension (internal).
ROUTES = ("queue", "outbound", "direct", "internal")
# The key of each queue media type in a queue's `mediaSettings` (Genesys calls voice "call").
MEDIA_SETTINGS_KEYS = {
    "voice": "call",
    "callback": "callback",
    "chat": "chat",
    "email": "email",
    "message": "message",
}


@dataclass(frozen=True, slots=True)
class ServiceLevel:
    """A queue's goal for one media type: `percentage` (0..1) answered within `duration_ms`."""

    percentage: float
    duration_ms: int


@dataclass(frozen=True, slots=True)
class Queue:
    id: str
    name: str
    # Share of queue arrivals, and of this queue's arrivals per media type: Billing gets more
    # email, Sales more chat, so per-queue charts differ.
    share: float
    media_shares: Mapping[str, float]
    agent_ids: tuple[str, ...]
    service_levels: Mapping[str, ServiceLevel]
    # Seconds in queue after which the queue's flow takes the conversation away (to voicemail):
    # a flow-out. A media type left out never times out.
    flow_out_seconds: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class Agent:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class View:
    id: str
    name: str
    queue_ids: tuple[str, ...] | None  # None: every queue, and the conversations without one


def _agent_id(number: int) -> str:
    return f"a9e1c0de-5a11-4a6e-9e47-{number:012x}"


AGENT_NAMES = (
    "Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra", "Barbara Liskov",
    "Donald Knuth", "Margaret Hamilton", "John Backus", "Frances Allen", "Ken Thompson",
    "Radia Perlman", "Dennis Ritchie", "Karen Sparck Jones", "Tony Hoare", "Adele Goldberg",
    "Niklaus Wirth", "Shafi Goldwasser", "Leslie Lamport", "Sophie Wilson", "Butler Lampson",
    "Jean Sammet", "Robin Milner", "Hedy Lamarr", "Peter Naur", "Mary Kenneth Keller",
    "Fernando Corbato", "Kathleen Booth", "John McCarthy", "Evelyn Berezin", "Ivan Sutherland",
    "Annie Easley", "Seymour Cray",
)  # fmt: skip
AGENTS = tuple(Agent(_agent_id(n), name) for n, name in enumerate(AGENT_NAMES, start=1))
AGENT_IDS = tuple(a.id for a in AGENTS)
AGENTS_BY_ID = {a.id: a for a in AGENTS}

SALES_ID = "3f2a9c1e-7b4d-4e8a-9c21-5d6e7f8a9b01"
SUPPORT_ID = "3f2a9c1e-7b4d-4e8a-9c21-5d6e7f8a9b02"
BILLING_ID = "3f2a9c1e-7b4d-4e8a-9c21-5d6e7f8a9b03"
RETENTION_ID = "3f2a9c1e-7b4d-4e8a-9c21-5d6e7f8a9b04"


def _levels(**goals: tuple[float, float]) -> dict[str, ServiceLevel]:
    """media type -> (percentage, seconds) as ServiceLevel objects."""
    return {m: ServiceLevel(p, int(s * 1000)) for m, (p, s) in goals.items()}


# Agents overlap between queues, as skills-based routing does. Service levels differ per queue
# and media type, as real orgs configure them, so one threshold for all is visibly wrong.
QUEUES = (
    Queue(
        SALES_ID, "Sales", 0.30,
        {"voice": 0.45, "callback": 0.05, "chat": 0.30, "email": 0.05, "message": 0.15},
        AGENT_IDS[0:10],
        _levels(voice=(0.8, 20), callback=(0.8, 3600), chat=(0.8, 60), email=(0.8, 8 * 3600),
                message=(0.8, 300)),
        {"voice": 150, "chat": 300},
    ),
    Queue(
        SUPPORT_ID, "Support", 0.35,
        {"voice": 0.50, "callback": 0.08, "chat": 0.17, "email": 0.10, "message": 0.15},
        AGENT_IDS[8:22],
        _levels(voice=(0.7, 30), callback=(0.8, 7200), chat=(0.75, 90), email=(0.85, 24 * 3600),
                message=(0.8, 600)),
        {"voice": 90, "chat": 240, "message": 1200},
    ),
    Queue(
        BILLING_ID, "Billing", 0.20,
        {"voice": 0.40, "callback": 0.05, "chat": 0.10, "email": 0.30, "message": 0.15},
        AGENT_IDS[18:28],
        _levels(voice=(0.8, 20), callback=(0.8, 3600), chat=(0.8, 60), email=(0.9, 4 * 3600),
                message=(0.85, 300)),
        {"voice": 120, "callback": 2400},
    ),
    Queue(
        RETENTION_ID, "Retention", 0.15,
        {"voice": 0.75, "callback": 0.05, "chat": 0.05, "email": 0.05, "message": 0.10},
        AGENT_IDS[26:32],
        _levels(voice=(0.9, 15), callback=(0.9, 1800), chat=(0.85, 45), email=(0.8, 2 * 3600),
                message=(0.8, 900)),
        {"voice": 180},
    ),
)  # fmt: skip
QUEUES_BY_ID = {q.id: q for q in QUEUES}

VIEWS = {
    v.id: v
    for v in (
        View("all", "All queues", None),
        View("view-sales", "Sales", (SALES_ID,)),
        View("view-service", "Customer service", (SUPPORT_ID, BILLING_ID)),
        View("view-retention", "Retention", (RETENTION_ID,)),
    )
}

# Shares of all arrivals (GENESYS_SIM_CONVERSATIONS_PER_DAY counts every route).
ROUTE_SHARES = {"queue": 0.80, "outbound": 0.12, "direct": 0.04, "internal": 0.04}
# Of queue conversations: the first agent transfers it to another queue (any other, evenly).
TRANSFER_SHARE = 0.08
# Of outbound conversations: placed on behalf of a queue (which the queue's agents do); the
# rest by any agent, for no queue.
OUTBOUND_QUEUE_SHARE = 0.75
OUTBOUND_MEDIA_SHARES = {"voice": 0.75, "email": 0.20, "message": 0.05}
DIRECT_MEDIA_SHARES = {"voice": 0.80, "video": 0.20}
INTERNAL_MEDIA_SHARES = {"voice": 1.0}

# Per media type, in seconds: mean time until an agent is free (at the busiest minute; quiet
# minutes wait less), mean customer patience (None: never abandons, as callbacks and emails are
# not on the line), talk minimum and mean, mean after-call work, share of handled conversations
# with holds and mean length of one hold (on digital media, the time an agent spends on other
# interactions counts as hold, hence longer holds).
WAIT_MEAN = {"voice": 40.0, "callback": 900.0, "chat": 60.0, "email": 3600.0, "message": 300.0}
PATIENCE_MEAN = {"voice": 240.0, "callback": None, "chat": 420.0, "email": None, "message": 3600.0}
TALK_MIN = {"voice": 20.0, "callback": 20.0, "chat": 60.0, "email": 30.0, "message": 30.0,
            "video": 30.0}  # fmt: skip
TALK_MEAN = {"voice": 280.0, "callback": 240.0, "chat": 420.0, "email": 240.0, "message": 360.0,
             "video": 600.0}  # fmt: skip
ACW_MIN = 5.0
ACW_MEAN = {"voice": 30.0, "callback": 30.0, "chat": 20.0, "email": 45.0, "message": 20.0,
            "video": 20.0}  # fmt: skip
HOLD_SHARE = {"voice": 0.35, "callback": 0.30, "chat": 0.15, "email": 0.10, "message": 0.10,
              "video": 0.10}  # fmt: skip
HOLD_MIN = 3.0
HOLD_MEAN = {"voice": 45.0, "callback": 45.0, "chat": 90.0, "email": 300.0, "message": 120.0,
             "video": 30.0}  # fmt: skip
# Of the conversations with holds: how many holds (1, 2 or 3), cumulative.
HOLD_COUNT_CUMULATIVE = (0.60, 0.88, 1.0)
# Outbound calls: the agent dials (tDialing), then the far end rings (tContacting).
DIALING_MIN, DIALING_MEAN = 1.0, 3.0
CONTACTING_MIN, CONTACTING_MEAN = 2.0, 10.0
# Exponential draws are cut at this many means, so every conversation has a known longest life
# (Kind.lifetime_ms): the aggregates must look back that far for metrics emitted late.
EXP_CAP = 6.0
_EXP_CLIP = 1.0 - math.exp(-EXP_CAP)

# Abandons under this many milliseconds in queue are short abandons (tShortAbandon; they are in
# tAbandon too).
SHORT_ABANDON_MS = 10_000
# The org's service-level calculation (Genesys lets each org configure it): the denominator is
# answered + abandoned; short abandons are left out of it, and so are flow-outs.
SERVICE_LEVEL_COUNTS_SHORT_ABANDONS = False
SERVICE_LEVEL_COUNTS_FLOW_OUTS = False

# A conversation is seen by the details query this long after it starts (per conversation,
# between these bounds), as Genesys's indexing lags: pages near "now" shift.
VISIBILITY_DELAY_MIN_MS = 2_000
VISIBILITY_DELAY_MAX_MS = 60_000

# Relative arrivals per UTC hour: quiet at night, busy from late morning to mid afternoon.
HOURLY_CURVE = (
    0.12, 0.08, 0.06, 0.05, 0.06, 0.10, 0.22, 0.45, 0.80, 1.00, 1.10, 1.15,
    1.20, 1.18, 1.10, 1.00, 0.90, 0.75, 0.58, 0.45, 0.36, 0.28, 0.21, 0.16,
)  # fmt: skip

# At most this many conversations per minute (the index has four hex digits in the id).
MAX_PER_MINUTE = 0xFFFF
# Random numbers drawn per conversation, whether it is kept or not: tag, visibility, two legs of
# nine (wait, patience, agent, talk, hold count, three holds, ACW), dialing, contacting.
DETAIL_DRAWS = 22


@dataclass(frozen=True, slots=True)
class Kind:
    """What a filter can see of a conversation before it is built; every conversation is one of
    a few kinds, drawn first, so filters and counts are decided per kind."""

    queue_id: str | None  # the first queue, or the queue an outbound call was made for
    media_type: str
    direction: str  # originatingDirection
    route: str  # one of ROUTES
    transfer_queue_id: str | None  # the second queue of a transferred conversation
    queue_ids: tuple[str, ...]  # every queue it meets
    lifetime_ms: int  # no metric of it is emitted later than this after its start


def _leg_longest_ms(media_type: str, *, offered: bool, outbound: bool) -> int:
    wait = EXP_CAP * WAIT_MEAN[media_type] if offered else 0.0
    dial = (DIALING_MIN + CONTACTING_MIN + EXP_CAP * (DIALING_MEAN + CONTACTING_MEAN)) * outbound
    talk = TALK_MIN[media_type] + EXP_CAP * TALK_MEAN[media_type]
    holds = len(HOLD_COUNT_CUMULATIVE) * (HOLD_MIN + EXP_CAP * HOLD_MEAN[media_type])
    acw = ACW_MIN + EXP_CAP * ACW_MEAN[media_type]
    return math.ceil((wait + dial + talk + holds + acw) * 1000) + 1


def _kind(
    queue_id: str | None, media_type: str, route: str, transfer_queue_id: str | None = None
) -> Kind:
    queue_ids = tuple(q for q in (queue_id, transfer_queue_id) if q is not None)
    leg = _leg_longest_ms(
        media_type,
        offered=route == "queue",
        outbound=route == "outbound" and media_type == "voice",
    )
    return Kind(
        queue_id=queue_id,
        media_type=media_type,
        direction="outbound" if route == "outbound" else "inbound",
        route=route,
        transfer_queue_id=transfer_queue_id,
        queue_ids=queue_ids,
        lifetime_ms=leg * (2 if transfer_queue_id else 1),
    )


def _build_kinds() -> tuple[tuple[Kind, ...], tuple[float, ...]]:
    weighted: list[tuple[Kind, float]] = []
    for queue in QUEUES:
        others = [q for q in QUEUES if q.id != queue.id]
        for media_type, media_share in queue.media_shares.items():
            share = ROUTE_SHARES["queue"] * queue.share * media_share
            weighted.append((_kind(queue.id, media_type, "queue"), share * (1 - TRANSFER_SHARE)))
            for other in others:
                kind = _kind(queue.id, media_type, "queue", other.id)
                weighted.append((kind, share * TRANSFER_SHARE / len(others)))
    for media_type, media_share in OUTBOUND_MEDIA_SHARES.items():
        share = ROUTE_SHARES["outbound"] * media_share
        for queue in QUEUES:
            kind = _kind(queue.id, media_type, "outbound")
            weighted.append((kind, share * OUTBOUND_QUEUE_SHARE * queue.share))
        weighted.append((_kind(None, media_type, "outbound"), share * (1 - OUTBOUND_QUEUE_SHARE)))
    for route, shares in (("direct", DIRECT_MEDIA_SHARES), ("internal", INTERNAL_MEDIA_SHARES)):
        for media_type, media_share in shares.items():
            weighted.append((_kind(None, media_type, route), ROUTE_SHARES[route] * media_share))
    cumulative, total = [], 0.0
    for _, share in weighted:
        total += share
        cumulative.append(total)
    return tuple(k for k, _ in weighted), tuple(c / total for c in cumulative)


KINDS, _KIND_CUMULATIVE = _build_kinds()
ALL_KINDS = frozenset(range(len(KINDS)))


class UnknownView(LookupError):
    def __init__(self, view_id: str) -> None:
        super().__init__(view_id)
        self.view_id = view_id


class Metric(NamedTuple):
    """One metric as Genesys emits it: a name, an integer (milliseconds for t*, 1 for n*, 1 or 0
    within the service level for oServiceLevel) and the moment it is emitted."""

    name: str
    value: int
    emit_ms: int


# Metrics only the aggregates answer (Genesys computes them; a details session never has them).
AGGREGATE_ONLY_METRICS = frozenset({"tWait", "oServiceLevel"})


class Leg(NamedTuple):
    """One stretch of a conversation: a queue offer (and the agent who answered it), or an agent
    working it without a queue. Times are epoch milliseconds; the timeline is
    enter -> (wait in queue) -> leave -> (dialing, contacting) -> connect -> talk and holds ->
    disconnect -> after-call work -> wrap-up end."""

    media_type: str
    queue_id: str | None  # the queue that offered it, or that an outbound call was made for
    offered: bool  # passed through the queue (nOffered); False: the agent had it directly
    outcome: str  # answered, abandoned, flowout (offered); handled (not offered)
    enter_ms: int  # entered the queue, or the agent started (dialled or was alerted)
    wait_ms: int  # in queue until answered, abandoned or flowed out; 0 when not offered
    user_id: str | None  # the agent, None when no agent had it
    outbound: bool  # the agent placed it (nOutbound)
    dialing_ms: int
    contacting_ms: int
    talks: tuple[int, ...]  # the talk between holds: one more piece than holds
    holds: tuple[int, ...]
    acw_ms: int
    transferred: bool  # the agent transferred it to another queue (nTransferred)

    @property
    def leave_ms(self) -> int:
        return self.enter_ms + self.wait_ms

    @property
    def connect_ms(self) -> int:
        return self.leave_ms + self.dialing_ms + self.contacting_ms

    @property
    def talk_ms(self) -> int:
        return sum(self.talks)

    @property
    def hold_ms(self) -> int:
        return sum(self.holds)

    @property
    def disconnect_ms(self) -> int:
        """When the customer and this agent part (or the customer left the queue)."""
        if self.user_id is None:
            return self.leave_ms
        return self.connect_ms + self.talk_ms + self.hold_ms

    @property
    def wrapup_end_ms(self) -> int:
        return self.disconnect_ms + self.acw_ms if self.user_id is not None else self.leave_ms

    @property
    def handle_ms(self) -> int:
        # Genesys's handle time: talk + hold + ACW, plus dialing and contacting for outbound.
        return self.dialing_ms + self.contacting_ms + self.talk_ms + self.hold_ms + self.acw_ms

    def service_level(self) -> ServiceLevel:
        assert self.queue_id is not None
        return QUEUES_BY_ID[self.queue_id].service_levels[self.media_type]

    def agent_segments(self) -> list[tuple[str, int, int]]:
        """The agent's (segmentType, start, end): dialing, contacting, interact and hold turn
        about, wrapup. The one timeline the agent's metrics are emitted from."""
        segments = []
        moment = self.leave_ms
        for segment_type, length in (
            ("dialing", self.dialing_ms),
            ("contacting", self.contacting_ms),
        ):
            if length:
                segments.append((segment_type, moment, moment + length))
                moment += length
        for number, talk in enumerate(self.talks):
            segments.append(("interact", moment, moment + talk))
            moment += talk
            if number < len(self.holds):
                segments.append(("hold", moment, moment + self.holds[number]))
                moment += self.holds[number]
        segments.append(("wrapup", moment, moment + self.acw_ms))
        return segments

    def queue_metrics(self) -> list[Metric]:
        """The queue's metrics of an offered leg (none when not offered). n* when they happen,
        the rest when the conversation leaves the queue."""
        if not self.offered:
            return []
        leave, wait = self.leave_ms, self.wait_ms
        metrics = [
            Metric("nOffered", 1, self.enter_ms),
            Metric("tAcd", wait, leave),
            Metric("tWait", wait, leave),
        ]
        in_denominator = True
        if self.outcome == "answered":
            within = wait <= self.service_level().duration_ms
            if not within:
                metrics.append(Metric("nOverSla", 1, leave))
        elif self.outcome == "abandoned":
            within = False
            metrics.append(Metric("tAbandon", wait, leave))
            if wait < SHORT_ABANDON_MS:
                metrics.append(Metric("tShortAbandon", wait, leave))
                in_denominator = SERVICE_LEVEL_COUNTS_SHORT_ABANDONS
        else:
            within = False
            metrics.append(Metric("tFlowOut", wait, leave))
            in_denominator = SERVICE_LEVEL_COUNTS_FLOW_OUTS
        if in_denominator:
            metrics.append(Metric("oServiceLevel", 1 if within else 0, leave))
        return metrics

    def agent_metrics(self) -> list[Metric]:
        """The agent's metrics (none when no agent had it). tTalk (the leg's whole talk) when
        the talk ends, one tHeld per hold when it ends, tAcw and tHandle when wrap-up ends."""
        if self.user_id is None:
            return []
        metrics = []
        if self.offered:
            metrics.append(Metric("tAnswered", self.wait_ms, self.leave_ms))
        if self.outbound:
            metrics.append(Metric("nOutbound", 1, self.enter_ms))
        for segment_type, start, end in self.agent_segments():
            if segment_type == "dialing":
                metrics.append(Metric("tDialing", end - start, end))
            elif segment_type == "contacting":
                metrics.append(Metric("tContacting", end - start, end))
            elif segment_type == "hold":
                metrics.append(Metric("tHeld", end - start, end))
        disconnect, talk = self.disconnect_ms, self.talk_ms
        metrics += [Metric("tTalk", talk, disconnect), Metric("tTalkComplete", talk, disconnect)]
        if self.holds:
            metrics.append(Metric("tHeldComplete", self.hold_ms, disconnect))
        if self.transferred:
            metrics.append(Metric("nTransferred", 1, disconnect))
        wrapup_end = self.wrapup_end_ms
        metrics += [
            Metric("tAcw", self.acw_ms, wrapup_end),
            Metric("tHandle", self.handle_ms, wrapup_end),
        ]
        return metrics


@dataclass(slots=True)
class Conversation:
    """One conversation: its kind and its legs (one, or two when transferred between queues)."""

    minute: int  # minutes since the Unix epoch: the minute that contains `start`
    index: int  # position within the minute, in start order
    tag: int  # random bits that make the id look random
    kind: Kind
    start_ms: int
    visible_ms: int  # from when the details query sees it
    legs: tuple[Leg, ...]

    @property
    def id(self) -> str:
        # Version-4 shaped; the first two groups are the minute and index it was made from.
        return (
            f"{self.minute:08x}-{self.index:04x}-4{_seed() & 0xFFF:03x}"
            f"-8{self.tag >> 48:03x}-{self.tag & 0xFFFFFFFFFFFF:012x}"
        )

    @property
    def customer_id(self) -> str:
        return (
            f"{self.minute:08x}-{self.index:04x}-4{_seed() & 0xFFF:03x}"
            f"-9{self.tag >> 48:03x}-{self.tag & 0xFFFFFFFFFFFF:012x}"
        )

    @property
    def position(self) -> tuple[int, int]:
        return (self.minute, self.index)

    @property
    def queue_id(self) -> str | None:
        return self.kind.queue_id

    @property
    def queue_ids(self) -> tuple[str, ...]:
        return self.kind.queue_ids

    @property
    def media_type(self) -> str:
        return self.kind.media_type

    @property
    def direction(self) -> str:
        return self.kind.direction

    @property
    def route(self) -> str:
        return self.kind.route

    @property
    def offered(self) -> bool:
        return self.kind.route == "queue"

    @property
    def answered(self) -> bool:
        """An agent had it (answered from a queue, placed it, or took it directly)."""
        return any(leg.user_id is not None for leg in self.legs)

    @property
    def abandoned(self) -> bool:
        return self.legs[-1].outcome == "abandoned"

    @property
    def flowed_out(self) -> bool:
        return self.legs[-1].outcome == "flowout"

    @property
    def agent_id(self) -> str | None:
        return self.legs[0].user_id

    @property
    def user_ids(self) -> tuple[str, ...]:
        return tuple(leg.user_id for leg in self.legs if leg.user_id is not None)

    @property
    def end_ms(self) -> int:
        # The conversation ends when the customer leaves; after-call work comes later.
        return self.legs[-1].disconnect_ms

    @property
    def last_emit_ms(self) -> int:
        return max(leg.wrapup_end_ms for leg in self.legs)

    @property
    def wait_ms(self) -> int:
        return sum(leg.wait_ms for leg in self.legs)

    @property
    def talk_ms(self) -> int:
        return sum(leg.talk_ms for leg in self.legs)

    @property
    def hold_ms(self) -> int:
        return sum(leg.hold_ms for leg in self.legs)

    @property
    def acw_ms(self) -> int:
        return sum(leg.acw_ms for leg in self.legs)

    @property
    def start(self) -> datetime:
        return _EPOCH + timedelta(milliseconds=self.start_ms)

    @property
    def end(self) -> datetime:
        return _EPOCH + timedelta(milliseconds=self.end_ms)

    @property
    def wait(self) -> float:
        return self.wait_ms / 1000

    @property
    def talk(self) -> float:
        return self.talk_ms / 1000

    @property
    def hold(self) -> float:
        return self.hold_ms / 1000

    @property
    def acw(self) -> float:
        return self.acw_ms / 1000

    @property
    def handle(self) -> float:
        return sum(leg.handle_ms for leg in self.legs if leg.user_id is not None) / 1000


def _seed() -> int:
    return settings.GENESYS_SIM_SEED


def _per_day() -> int:
    return settings.GENESYS_SIM_CONVERSATIONS_PER_DAY


@lru_cache(maxsize=8)
def minute_rates(per_day: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Expected arrivals for each minute of a UTC day, and each minute's load (0..1)."""
    weights = []
    for minute in range(1440):
        hour, fraction = divmod(minute, 60)
        here, after = HOURLY_CURVE[hour], HOURLY_CURVE[(hour + 1) % 24]
        weights.append(here + (after - here) * fraction / 60)
    total, peak = sum(weights), max(weights)
    return (
        tuple(per_day * w / total for w in weights),
        tuple(w / peak for w in weights),
    )


def select_kinds(
    *,
    view_id: str = "all",
    media_types: Iterable[str] = (),
    directions: Iterable[str] = (),
    queue_ids: Iterable[str] = (),
    routes: Iterable[str] = (),
    where: Callable[[Kind], bool] | None = None,
) -> frozenset[int]:
    """The kind numbers that pass every filter (an empty filter passes everything).

    Filters see only a conversation's kind, so they are decided once per kind here rather than
    once per conversation. A conversation is in a queue (of `queue_ids`, of a view) when it
    meets that queue, a transferred one in both; conversations without a queue are only in the
    view `all`.
    """
    view = VIEWS.get(view_id)
    if view is None:
        raise UnknownView(view_id)
    media_types, directions, queue_ids = set(media_types), set(directions), set(queue_ids)
    routes = set(routes)
    selected = set()
    for number, kind in enumerate(KINDS):
        if view.queue_ids is not None and not set(kind.queue_ids) & set(view.queue_ids):
            continue
        if media_types and kind.media_type not in media_types:
            continue
        if directions and kind.direction not in directions:
            continue
        if queue_ids and not set(kind.queue_ids) & queue_ids:
            continue
        if routes and kind.route not in routes:
            continue
        if where is not None and not where(kind):
            continue
        selected.add(number)
    return frozenset(selected)


def to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware")
    # Integer arithmetic: timestamp() * 1000 can land a hair below a whole millisecond.
    return (moment - _EPOCH) // _ONE_MS


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


def _mix64(value: int) -> int:
    """splitmix64's finaliser: a fast, well-spread hash of a 64-bit number."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    return value ^ (value >> 31)


_MASK64 = (1 << 64) - 1
_STANDARD_NORMAL = NormalDist()


def _minute_key(seed: int, minute: int) -> int:
    return (seed << 40) | minute


def _arrivals(seed: int, minute: int, rate: float) -> int:
    """How many conversations start in `minute`: a Poisson draw from a hash of (seed, minute).

    A hash rather than a seeded generator, because seeding costs several microseconds and
    most night minutes are empty: counting a quiet range never seeds anything.
    """
    uniform = (_mix64(_minute_key(seed, minute)) >> 11) / (1 << 53)
    if rate >= 50:
        # The normal approximation is close here, and the exact sum below would underflow.
        count = round(rate + math.sqrt(rate) * _STANDARD_NORMAL.inv_cdf(max(uniform, 1e-12)))
        return min(max(count, 0), MAX_PER_MINUTE)
    # Inverse of the Poisson distribution function; the cap guards against rounding near 1.
    probability = math.exp(-rate)
    cumulative, count, cap = probability, 0, int(rate * 10) + 20
    while uniform > cumulative and count < cap:
        count += 1
        probability *= rate / count
        cumulative += probability
    return count


def _draw_kinds(rng: random.Random, seed: int, minute: int, count: int) -> list[int]:
    """Seed the generator for `minute` and draw the kind of each of its conversations."""
    rng.seed(_minute_key(seed, minute))
    rnd = rng.random
    cumulative = _KIND_CUMULATIVE
    last = len(cumulative) - 1
    return [min(bisect(cumulative, rnd()), last) for _ in range(count)]


def _draw_offsets(rng: random.Random, count: int) -> list[int]:
    # Sorted, so indexes within a minute follow start order.
    rnd = rng.random
    return sorted(int(rnd() * MINUTE_MS) for _ in range(count))


def count_conversations(
    *,
    start: datetime,
    end: datetime,
    view_id: str = "all",
    media_types: Iterable[str] = (),
    directions: Iterable[str] = (),
    queue_ids: Iterable[str] = (),
    routes: Iterable[str] = (),
    where: Callable[[Kind], bool] | None = None,
) -> int:
    """How many conversations `iter_conversations` would yield, without building any."""
    selected = select_kinds(
        view_id=view_id,
        media_types=media_types,
        directions=directions,
        queue_ids=queue_ids,
        routes=routes,
        where=where,
    )
    return count_selected(start_ms=to_ms(start), end_ms=to_ms(end), selected=selected)


def count_selected(*, start_ms: int, end_ms: int, selected: frozenset[int]) -> int:
    if end_ms <= start_ms or not selected:
        return 0
    seed = _seed()
    rates = minute_rates(_per_day())[0]
    everything = selected == ALL_KINDS
    rng = random.Random()
    total = 0
    first, last = start_ms // MINUTE_MS, (end_ms - 1) // MINUTE_MS
    for minute in range(first, last + 1):
        count = _arrivals(seed, minute, rates[minute % 1440])
        if not count:
            continue
        base = minute * MINUTE_MS
        whole = base >= start_ms and base + MINUTE_MS <= end_ms
        if whole and everything:
            total += count
            continue
        kinds = _draw_kinds(rng, seed, minute, count)
        if whole:
            total += sum(1 for k in kinds if k in selected)
            continue
        # A minute cut by the window: only here do the start offsets matter.
        offsets = _draw_offsets(rng, len(kinds))
        total += sum(
            1
            for k, offset in zip(kinds, offsets, strict=True)
            if k in selected and start_ms <= base + offset < end_ms
        )
    return total


def iter_conversations(
    *,
    start: datetime,
    end: datetime,
    view_id: str = "all",
    media_types: Iterable[str] = (),
    directions: Iterable[str] = (),
    queue_ids: Iterable[str] = (),
    routes: Iterable[str] = (),
    where: Callable[[Kind], bool] | None = None,
    after: tuple[int, int] | None = None,
) -> Iterator[Conversation]:
    """Yield the conversations that start in [start, end) and pass the filters, in start order.

    `after` is a position (minute, index) from `Conversation.position`: the scan resumes just
    past it, without generating the minutes before it.
    """
    selected = select_kinds(
        view_id=view_id,
        media_types=media_types,
        directions=directions,
        queue_ids=queue_ids,
        routes=routes,
        where=where,
    )
    return iter_selected(start_ms=to_ms(start), end_ms=to_ms(end), selected=selected, after=after)


def iter_selected(
    *,
    start_ms: int,
    end_ms: int,
    selected: frozenset[int],
    after: tuple[int, int] | None = None,
) -> Iterator[Conversation]:
    if end_ms <= start_ms or not selected:
        return
    seed = _seed()
    rates, loads = minute_rates(_per_day())
    rng = random.Random()
    first, last = start_ms // MINUTE_MS, (end_ms - 1) // MINUTE_MS
    skip_through = -1
    if after is not None:
        first = max(first, after[0])
        skip_through = after[1] if after[0] == first else -1
    for minute in range(first, last + 1):
        yield from _minute(
            rng, seed, minute, rates[minute % 1440], loads[minute % 1440], selected, start_ms, end_ms,
            skip_through if minute == first else -1,
        )  # fmt: skip


def _minute(
    rng: random.Random,
    seed: int,
    minute: int,
    rate: float,
    load: float,
    selected: frozenset[int],
    start_ms: int,
    end_ms: int,
    skip_through: int,
) -> list[Conversation]:
    count = _arrivals(seed, minute, rate)
    if not count:
        return []
    kinds = _draw_kinds(rng, seed, minute, count)
    offsets = _draw_offsets(rng, count)
    rnd = rng.random
    # Every conversation draws the same number of values, kept or not, so skipping one never
    # shifts the next.
    draws = [rnd() for _ in range(DETAIL_DRAWS * count)]
    base = minute * MINUTE_MS
    wait_factor = 0.25 + 0.75 * load  # queues back up when the centre is busy
    delay_span = VISIBILITY_DELAY_MAX_MS - VISIBILITY_DELAY_MIN_MS
    result = []
    for index in range(skip_through + 1, count):
        kind_number = kinds[index]
        if kind_number not in selected:
            continue
        start = base + offsets[index]
        if start < start_ms or start >= end_ms:
            continue
        kind = KINDS[kind_number]
        d = draws[DETAIL_DRAWS * index : DETAIL_DRAWS * (index + 1)]
        if kind.route == "queue":
            assert kind.queue_id is not None
            transfer_to = kind.transfer_queue_id
            first = _queue_leg(
                kind.queue_id, kind.media_type, start, wait_factor, d[2:11],
                transferred=transfer_to is not None,
            )  # fmt: skip
            legs: tuple[Leg, ...] = (first,)
            if transfer_to is not None:
                second = _queue_leg(
                    transfer_to, kind.media_type, first.disconnect_ms, wait_factor, d[11:20],
                    transferred=False, not_user=first.user_id,
                )  # fmt: skip
                legs = (first, second)
        else:
            legs = (_agent_leg(kind, start, d[2:11], d[20], d[21]),)
        visible = start + VISIBILITY_DELAY_MIN_MS + int(d[1] * delay_span)
        result.append(
            Conversation(minute, index, int(d[0] * (1 << 52)), kind, start, visible, legs)
        )
    return result


def _exp(mean: float, uniform: float) -> float:
    """An exponential draw of `mean`, cut at EXP_CAP means."""
    return -mean * math.log(1.0 - uniform * _EXP_CLIP)


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def _talk_and_holds(
    media_type: str, r_talk: float, r_holds: float, r_each: Iterable[float]
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The talk pieces and holds of one agent: 0 to 3 holds, the talk split evenly around them."""
    talk = _ms(TALK_MIN[media_type] + _exp(TALK_MEAN[media_type], r_talk))
    share = HOLD_SHARE[media_type]
    if r_holds >= share:
        return (talk,), ()
    number = bisect(HOLD_COUNT_CUMULATIVE, r_holds / share) + 1
    holds = tuple(_ms(HOLD_MIN + _exp(HOLD_MEAN[media_type], r)) for r in list(r_each)[:number])
    piece = talk // (number + 1)
    return (piece,) * number + (talk - piece * number,), holds


def _queue_leg(
    queue_id: str,
    media_type: str,
    enter_ms: int,
    wait_factor: float,
    r: list[float],
    *,
    transferred: bool,
    not_user: str | None = None,
) -> Leg:
    """A queue offer: answered, abandoned (patience ran out) or flowed out (the queue's timeout
    came first). A leg its agent transfers was answered, by construction."""
    r_wait, r_patience, r_agent, r_talk, r_holds, h1, h2, h3, r_acw = r
    queue = QUEUES_BY_ID[queue_id]
    wait = _exp(WAIT_MEAN[media_type] * wait_factor, r_wait)
    outcome = "answered"
    if not transferred:
        patience_mean = PATIENCE_MEAN[media_type]
        patience = math.inf if patience_mean is None else _exp(patience_mean, r_patience)
        timeout = queue.flow_out_seconds.get(media_type, math.inf)
        if min(patience, timeout) < wait:
            wait, outcome = (patience, "abandoned") if patience <= timeout else (timeout, "flowout")
    if outcome != "answered":
        return Leg(
            media_type, queue_id, True, outcome, enter_ms, _ms(wait), None, False, 0, 0, (), (),
            0, False,
        )  # fmt: skip
    agents = queue.agent_ids
    if not_user is not None:
        agents = tuple(a for a in agents if a != not_user)
    talks, holds = _talk_and_holds(media_type, r_talk, r_holds, (h1, h2, h3))
    return Leg(
        media_type, queue_id, True, "answered", enter_ms, _ms(wait),
        agents[int(r_agent * len(agents))], False, 0, 0, talks, holds,
        _ms(ACW_MIN + _exp(ACW_MEAN[media_type], r_acw)), transferred,
    )  # fmt: skip


def _agent_leg(kind: Kind, start_ms: int, r: list[float], r_dial: float, r_contact: float) -> Leg:
    """An agent's work without a queue offer: outbound (for a queue or none), direct, internal."""
    _, _, r_agent, r_talk, r_holds, h1, h2, h3, r_acw = r
    media_type = kind.media_type
    agents = QUEUES_BY_ID[kind.queue_id].agent_ids if kind.queue_id else AGENT_IDS
    outbound = kind.route == "outbound"
    dialing = contacting = 0
    if outbound and media_type == "voice":
        dialing = _ms(DIALING_MIN + _exp(DIALING_MEAN, r_dial))
        contacting = _ms(CONTACTING_MIN + _exp(CONTACTING_MEAN, r_contact))
    talks, holds = _talk_and_holds(media_type, r_talk, r_holds, (h1, h2, h3))
    return Leg(
        media_type, kind.queue_id, False, "handled", start_ms, 0,
        agents[int(r_agent * len(agents))], outbound, dialing, contacting, talks, holds,
        _ms(ACW_MIN + _exp(ACW_MEAN[media_type], r_acw)), False,
    )  # fmt: skip
