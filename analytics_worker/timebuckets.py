"""Bucket edges on a time zone's wall clock: every piece of bucket and DST arithmetic.

A report's buckets start at local multiples of the granularity (hours start at :30 UTC in
Asia/Kolkata), a day bucket is a local day (23 or 25 hours across DST), a repeated fall-back
hour is two buckets, a skipped spring-forward hour none. The report spec, the normaliser and the
aggregates chunking all cut time here, so they always agree.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

GRANULARITY_MINUTES = {"PT15M": 15, "PT30M": 30, "PT1H": 60, "P1D": 1440}
_TINY = timedelta(microseconds=1)


def bucket_floor(moment: datetime, *, tz: ZoneInfo, minutes: int) -> datetime:
    """The start (UTC) of the report bucket that holds `moment`, with edges on local time.

    It is the latest bucket edge at or before `moment`, and an edge is its own floor: the
    normalizer finds edges as the instants t with bucket_floor(t) == t.
    """
    local = moment.astimezone(tz)
    if minutes >= 1440:
        day = local.date()
        floor = local_midnight(day, tz)
        # A fall-back across midnight (Atlantic Canada went 00:01 -> 23:01 until 2011) shows
        # yesterday's date again after today's midnight has passed: the later midnight wins.
        following = local_midnight(day + timedelta(days=1), tz)
        return following if following <= moment else floor
    minute_of_day = local.hour * 60 + local.minute
    floored = local.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None) + timedelta(
        minutes=minute_of_day - minute_of_day % minutes
    )
    offset = local.utcoffset()
    assert offset is not None
    # Usually the floored wall time has the offset of `local`: the clock ran straight from the
    # floor to `moment`, so nothing else can be the latest edge.
    same_offset = (floored - offset).replace(tzinfo=UTC)
    if same_offset.astimezone(tz).utcoffset() == offset:
        return same_offset
    # The offset changed in between. The floored wall time may have happened twice (a
    # fall-back; on Lord Howe only 30 minutes, in Chatham not on an edge) or never (inside a
    # spring-forward gap, whose end then starts the bucket). Keep the latest reading that is a
    # real edge at or before `moment`.
    readings = {
        same_offset,
        floored.replace(tzinfo=tz, fold=0).astimezone(UTC),
        floored.replace(tzinfo=tz, fold=1).astimezone(UTC),
    }
    edges = [t for t in readings if t <= moment and _is_edge(t, tz=tz, minutes=minutes)]
    if edges:
        return max(edges)
    # Not seen in real zones since 1970: the wall time was skipped mid-gap, so the bucket before
    # the gap runs on.
    return bucket_floor(min(readings) - timedelta(microseconds=1), tz=tz, minutes=minutes)


def _is_edge(moment: datetime, *, tz: ZoneInfo, minutes: int) -> bool:
    """A sub-day bucket starts here: the wall clock shows a multiple of the granularity, or
    it has just jumped forward over one (the first instant after a spring-forward gap)."""
    local = moment.astimezone(tz)
    wall = local.replace(tzinfo=None)
    if wall.second == 0 and wall.microsecond == 0 and (wall.hour * 60 + wall.minute) % minutes == 0:
        return True
    before = (moment - timedelta(microseconds=1)).astimezone(tz)
    jump = local.utcoffset() - before.utcoffset()  # type: ignore[operator]
    if jump <= timedelta(0):
        return False
    gap_start = wall - jump
    since_midnight = gap_start - gap_start.replace(hour=0, minute=0, second=0, microsecond=0)
    next_multiple = gap_start + (-since_midnight) % timedelta(minutes=minutes)
    return next_multiple < wall


def bucket_ceil(moment: datetime, *, tz: ZoneInfo, minutes: int) -> datetime:
    """The first bucket edge at or after `moment`."""
    floor = bucket_floor(moment, tz=tz, minutes=minutes)
    if floor == moment.astimezone(UTC):
        return floor
    return _next_edge(floor, tz=tz, minutes=minutes)


def _next_edge(edge: datetime, *, tz: ZoneInfo, minutes: int) -> datetime:
    """The first bucket edge after `edge` (itself an edge).

    `edge + minutes` is not enough: across DST a bucket may be shorter or longer than its
    granularity (a 25-hour day; Lord Howe's 90-minute hour on its 30-minute fall-back).
    """
    if minutes >= 1440:
        day = edge.astimezone(tz).date()
        while True:
            # The loop only repeats where a whole local day was skipped (Samoa, 2011-12-30).
            day += timedelta(days=1)
            following = local_midnight(day, tz)
            if following > edge:
                return following
    # Real UTC offsets are whole quarter hours, so probing every 15 minutes finds the next edge:
    # the first probe whose floor moves past `edge` has that edge as its floor.
    step = timedelta(minutes=15)
    probe = edge + step
    while (floor := bucket_floor(probe, tz=tz, minutes=minutes)) <= edge:
        probe += step
    return floor


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    # Where DST skips midnight (e.g. America/Santiago), zoneinfo resolves the missing 00:00
    # with the old offset, which lands on the first instant that exists: the day's real start.
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def bucket_edges(
    *, start: datetime, end: datetime, granularity: str, time_zone: str
) -> list[datetime]:
    """UTC bucket edges from `start` to `end`, both included (both already on edges).

    Edges follow wall-clock time in `time_zone`: a P1D bucket is a local day (23 or 25 hours
    across DST), sub-day buckets start at local multiples of the granularity (hours start at
    :30 UTC in Asia/Kolkata). A repeated fall-back hour is two buckets with distinct UTC starts;
    a skipped spring-forward hour has no bucket. An edge is an instant t with
    bucket_floor(t) == t; bucket_ceil(edge + 1 µs) is therefore the next one.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    if end < start:
        raise ValueError("end must not be before start")
    try:
        minutes = GRANULARITY_MINUTES[granularity]
        tz = ZoneInfo(time_zone)
    except (KeyError, ValueError) as error:  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(f"unknown granularity or time zone: {error}") from None
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    step = timedelta(minutes=minutes)
    edges = [start]
    while edges[-1] < end:
        edge = edges[-1]
        local = edge.astimezone(tz)
        following = edge + step
        # Fast path: a sub-day edge on a wall-clock multiple, and the same UTC offset one step
        # later, so the clock ran straight to the next multiple. Anything else (days, DST,
        # the first instant after a gap) asks bucket_ceil.
        if not (
            minutes < 1440
            and local.second == 0
            and local.microsecond == 0
            and (local.hour * 60 + local.minute) % minutes == 0
            and following.astimezone(tz).utcoffset() == local.utcoffset()
        ):
            following = bucket_ceil(edge + _TINY, tz=tz, minutes=minutes)
        # A start or end off the edges still yields buckets that partition [start, end).
        edges.append(min(following, end))
    return edges


def wall_clock_back(moment: datetime, *, tz: ZoneInfo, by: timedelta, minutes: int) -> datetime:
    """`moment` moved back `by` on the zone's wall clock (a day before 09:00 is 09:00, across a
    DST change too), on a bucket edge."""
    return bucket_floor((moment.astimezone(tz) - by).astimezone(UTC), tz=tz, minutes=minutes)
