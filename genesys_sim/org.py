"""The simulated org's data: a deterministic synthetic contact centre that is never stored.

Every minute of time has its own conversations, made from (GENESYS_SIM_SEED, minute) alone: the
number of arrivals comes from a hash of the pair, everything else from a random generator seeded
with it. So a minute looks the same whatever window asks for it, any range streams minute by
minute in constant memory, and a position (minute, index) is enough to resume a scan, which is
what the GraphQL page tokens carry.

Inside a minute the draws come in a fixed order (kinds, start offsets, details), so counting can
stop after the kinds: `count_conversations` never builds a conversation, and with no filter it
never even seeds the generator.
"""

from __future__ import annotations

import math
import random
from bisect import bisect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from statistics import NormalDist

from django.conf import settings

MINUTE_MS = 60_000
MEDIA_TYPES = ("voice", "chat", "email", "message")
DIRECTIONS = ("inbound", "outbound")


@dataclass(frozen=True, slots=True)
class Queue:
    id: str
    name: str
    # Share of all arrivals, and of this queue's arrivals per media type (voice, chat, email,
    # message): Billing gets more email, Sales more chat, so per-queue charts differ.
    share: float
    media_shares: tuple[float, float, float, float]
    agent_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class View:
    id: str
    name: str
    queue_ids: tuple[str, ...] | None  # None: every queue


def _agent_id(number: int) -> str:
    return f"a9e1c0de-5a11-4a6e-9e47-{number:012x}"


AGENT_IDS = tuple(_agent_id(n) for n in range(1, 33))

SALES_ID = "3f2a9c1e-7b4d-4e8a-9c21-5d6e7f8a9b01"
SUPPORT_ID = "3f2a9c1e-7b4d-4e8a-9c21-5d6e7f8a9b02"
BILLING_ID = "3f2a9c1e-7b4d-4e8a-9c21-5d6e7f8a9b03"
RETENTION_ID = "3f2a9c1e-7b4d-4e8a-9c21-5d6e7f8a9b04"

# Agents overlap between queues, as skills-based routing does.
QUEUES = (
    Queue(SALES_ID, "Sales", 0.30, (0.50, 0.30, 0.05, 0.15), AGENT_IDS[0:10]),
    Queue(SUPPORT_ID, "Support", 0.35, (0.55, 0.20, 0.10, 0.15), AGENT_IDS[8:22]),
    Queue(BILLING_ID, "Billing", 0.20, (0.45, 0.10, 0.30, 0.15), AGENT_IDS[18:28]),
    Queue(RETENTION_ID, "Retention", 0.15, (0.80, 0.05, 0.05, 0.10), AGENT_IDS[26:32]),
)
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

# Share of outbound per media type: agents call back and send emails, rarely start a chat.
OUTBOUND_SHARE = {"voice": 0.20, "chat": 0.02, "email": 0.25, "message": 0.10}

# Per media type, in seconds: mean time until an agent is free (at the busiest minute; quiet
# minutes wait less), mean customer patience (None: never abandons), talk minimum and mean,
# and mean after-call work.
WAIT_MEAN = {"voice": 40.0, "chat": 60.0, "email": 3600.0, "message": 300.0}
PATIENCE_MEAN = {"voice": 240.0, "chat": 420.0, "email": None, "message": 3600.0}
TALK_MIN = {"voice": 20.0, "chat": 60.0, "email": 30.0, "message": 30.0}
TALK_MEAN = {"voice": 280.0, "chat": 420.0, "email": 240.0, "message": 360.0}
ACW_MEAN = {"voice": 30.0, "chat": 20.0, "email": 45.0, "message": 20.0}
HOLD_SHARE = 0.35  # of answered voice conversations; other media never hold
HOLD_MEAN = 45.0

# Relative arrivals per UTC hour: quiet at night, busy from late morning to mid afternoon.
HOURLY_CURVE = (
    0.12, 0.08, 0.06, 0.05, 0.06, 0.10, 0.22, 0.45, 0.80, 1.00, 1.10, 1.15,
    1.20, 1.18, 1.10, 1.00, 0.90, 0.75, 0.58, 0.45, 0.36, 0.28, 0.21, 0.16,
)  # fmt: skip

# At most this many conversations per minute (the index has four hex digits in the id).
MAX_PER_MINUTE = 0xFFFF
DETAIL_DRAWS = 8  # random numbers drawn per conversation, whether it is kept or not


@dataclass(frozen=True, slots=True)
class Kind:
    """What a filter can see of a conversation; every conversation is one of a few kinds."""

    queue_id: str
    media_type: str
    direction: str


def _build_kinds() -> tuple[tuple[Kind, ...], tuple[float, ...]]:
    kinds: list[Kind] = []
    cumulative: list[float] = []
    total = 0.0
    for queue in QUEUES:
        for media_type, media_share in zip(MEDIA_TYPES, queue.media_shares, strict=True):
            outbound = OUTBOUND_SHARE[media_type]
            for direction, share in (("inbound", 1 - outbound), ("outbound", outbound)):
                kinds.append(Kind(queue.id, media_type, direction))
                total += queue.share * media_share * share
                cumulative.append(total)
    return tuple(kinds), tuple(c / total for c in cumulative)


KINDS, _KIND_CUMULATIVE = _build_kinds()
ALL_KINDS = frozenset(range(len(KINDS)))


class UnknownView(LookupError):
    def __init__(self, view_id: str) -> None:
        super().__init__(view_id)
        self.view_id = view_id


@dataclass(slots=True)
class Conversation:
    """One conversation; times are kept in integer milliseconds, the rest is derived."""

    minute: int  # minutes since the Unix epoch: the minute that contains `start`
    index: int  # position within the minute, in start order
    tag: int  # random bits that make the id look random
    queue_id: str
    media_type: str
    direction: str
    start_ms: int
    wait_ms: int  # in queue until answered, or until the customer gave up
    talk_ms: int
    hold_ms: int
    acw_ms: int  # after-call work, done after the customer has gone
    answered: bool
    agent_id: str | None

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
    def abandoned(self) -> bool:
        return not self.answered

    @property
    def end_ms(self) -> int:
        # The conversation ends when the customer leaves; after-call work comes later.
        return self.start_ms + self.wait_ms + self.talk_ms + self.hold_ms

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
        return (self.talk_ms + self.hold_ms + self.acw_ms) / 1000


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
    where: Callable[[Kind], bool] | None = None,
) -> frozenset[int]:
    """The kind numbers that pass every filter (an empty filter passes everything).

    Filters see only a conversation's kind, so they are decided once per kind here rather than
    once per conversation.
    """
    view = VIEWS.get(view_id)
    if view is None:
        raise UnknownView(view_id)
    media_types, directions, queue_ids = set(media_types), set(directions), set(queue_ids)
    selected = set()
    for number, kind in enumerate(KINDS):
        if view.queue_ids is not None and kind.queue_id not in view.queue_ids:
            continue
        if media_types and kind.media_type not in media_types:
            continue
        if directions and kind.direction not in directions:
            continue
        if queue_ids and kind.queue_id not in queue_ids:
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
    where: Callable[[Kind], bool] | None = None,
) -> int:
    """How many conversations `iter_conversations` would yield, without building any."""
    selected = select_kinds(
        view_id=view_id,
        media_types=media_types,
        directions=directions,
        queue_ids=queue_ids,
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
    log = math.log
    wait_factor = 0.25 + 0.75 * load  # queues back up when the centre is busy
    result = []
    for index in range(skip_through + 1, count):
        kind_number = kinds[index]
        if kind_number not in selected:
            continue
        start = base + offsets[index]
        if start < start_ms or start >= end_ms:
            continue
        kind = KINDS[kind_number]
        media = kind.media_type
        r0, r1, r2, r3, r4, r5, r6, r7 = draws[DETAIL_DRAWS * index : DETAIL_DRAWS * (index + 1)]
        if kind.direction == "outbound":
            # The agent starts it, so nobody waits in queue and nobody abandons.
            wait, answered = 0.0, True
        else:
            wait = -WAIT_MEAN[media] * wait_factor * log(1.0 - r0)
            patience_mean = PATIENCE_MEAN[media]
            answered = True
            if patience_mean is not None:
                patience = -patience_mean * log(1.0 - r1)
                if patience < wait:
                    wait, answered = patience, False
        if answered:
            talk = TALK_MIN[media] - TALK_MEAN[media] * log(1.0 - r2)
            hold = -HOLD_MEAN * log(1.0 - r4) if media == "voice" and r3 < HOLD_SHARE else 0.0
            acw = 5.0 - ACW_MEAN[media] * log(1.0 - r5)
            agents = QUEUES_BY_ID[kind.queue_id].agent_ids
            agent_id = agents[int(r6 * len(agents))]
        else:
            talk = hold = acw = 0.0
            agent_id = None
        result.append(
            Conversation(
                minute,
                index,
                int(r7 * (1 << 52)),
                kind.queue_id,
                media,
                kind.direction,
                start,
                int(wait * 1000),
                int(talk * 1000),
                int(hold * 1000),
                int(acw * 1000),
                answered,
                agent_id,
            )
        )
    return result
