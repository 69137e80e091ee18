"""ReportSpec: validated, canonical report filters, and the cache key built from them.

The web view, Celery beat and the `fetch_report` command all build specs here, so a report warmed
by beat has exactly the key a supervisor's request will look up.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import orjson
from django.conf import settings

from analytics_worker.genesys.query import DIMENSIONS, ConversationFilters
from analytics_worker.redis_client import SCHEMA_VERSION
from analytics_worker.timebuckets import (
    GRANULARITY_MINUTES,
    bucket_ceil,
    bucket_floor,
    local_midnight,
    wall_clock_back,
)

# The media types a report can pick. Real orgs have others too (video, cobrowse, screenshare...),
# so picking every one of these is a filter, not "all".
MEDIA_TYPES = ("voice", "callback", "chat", "email", "message")
DIRECTIONS = ("inbound", "outbound")
SOURCES = ("aggregates", "details", "graphql")
# Genesys REST analytics has no views; only the GraphQL contract takes a viewId.
VIEW_SOURCES = ("graphql",)
RANGES = ("today", "yesterday", "last_24h", "last_7d", "custom")
DEFAULT_RANGE = "last_24h"
DEFAULT_GRANULARITY = "PT30M"
DEFAULT_VIEW = "all"
# A breakdown: one row (and chart line) per queue, media type, direction or agent, each with
# the report's buckets. Only the aggregates query groups (one request for every group), so a
# breakdown is fetched from it whatever ANALYTICS_SOURCE says.
GROUP_SOURCES = ("aggregates",)
# Each breakdown's ConversationFilters field: its dimension, and how a drill-down into one
# group narrows the report's filters to it.
GROUP_FILTERS = {
    "queue": "queue_ids",
    "media": "media_types",
    "direction": "directions",
    "agent": "user_ids",
}
GROUPS = tuple(GROUP_FILTERS)
# A report whose range reaches into the last two hours is live: Genesys stamps a metric when it
# completes (a long call lands in a later interval), so recent buckets still change. One that
# reaches into the last 48 hours is still settling: Genesys re-processes data nightly, and
# e-mail metrics post when the e-mail is handled, days later.
LIVE_WINDOW = timedelta(hours=2)
SETTLING_WINDOW = timedelta(hours=48)
Freshness = Literal["live", "settling", "settled"]
# Custom range bounds (years, UTC).
MIN_YEAR, MAX_YEAR = 1970, 9998

_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_TIME_ZONES = frozenset(available_timezones())


class ReportSpecError(ValueError):
    """Bad filter input; `field` names the query parameter at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ReportSpec:
    start: datetime  # aware UTC, on a bucket edge of the report's time zone
    end: datetime  # aware UTC, exclusive, on a bucket edge
    granularity: str = DEFAULT_GRANULARITY
    time_zone: str = "UTC"
    media_types: tuple[str, ...] = ()  # empty: all
    directions: tuple[str, ...] = ()
    queue_ids: tuple[str, ...] = ()
    view_id: str = DEFAULT_VIEW
    source: str = "graphql"
    group: str = ""  # one of GROUPS; empty: no breakdown
    # A drill-down: the conversations themselves (details query, at most LISTING_CAP), not
    # buckets. Its user_ids narrow it to one agent's row.
    listing: bool = False
    user_ids: tuple[str, ...] = ()
    key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", hashlib.sha256(self.canonical_json()).hexdigest())

    @property
    def series_key(self) -> str:
        """The same filters whatever the interval: a relative range's reports as the clock
        moves them on ("last 24 hours" at 19:55 and at 20:05), for the page to show the last
        one while the next loads."""
        series = {k: v for k, v in self.to_dict().items() if k not in ("start", "end")}
        return hashlib.sha256(orjson.dumps(series, option=orjson.OPT_SORT_KEYS)).hexdigest()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def bucket_minutes(self) -> int:
        return GRANULARITY_MINUTES[self.granularity]

    def to_dict(self) -> dict[str, object]:
        return {
            "start": _iso_utc(self.start),
            "end": _iso_utc(self.end),
            "granularity": self.granularity,
            "time_zone": self.time_zone,
            "media_types": list(self.media_types),
            "directions": list(self.directions),
            "queue_ids": list(self.queue_ids),
            "view_id": self.view_id,
            "source": self.source,
            "group": self.group,
            "listing": self.listing,
            "user_ids": list(self.user_ids),
        }

    def canonical_json(self) -> bytes:
        return orjson.dumps(
            {"schema": SCHEMA_VERSION, **self.to_dict()}, option=orjson.OPT_SORT_KEYS
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ReportSpec:
        """Rebuild a spec from to_dict() output (a Celery task argument, a saved report)."""
        return cls(
            start=_parse_utc(str(data["start"])),
            end=_parse_utc(str(data["end"])),
            granularity=str(data["granularity"]),
            time_zone=str(data["time_zone"]),
            media_types=tuple(data["media_types"]),  # type: ignore[arg-type]
            directions=tuple(data["directions"]),  # type: ignore[arg-type]
            queue_ids=tuple(data["queue_ids"]),  # type: ignore[arg-type]
            view_id=str(data["view_id"]),
            source=str(data["source"]),
            group=str(data.get("group") or ""),
            listing=bool(data.get("listing")),
            user_ids=tuple(data.get("user_ids") or ()),  # type: ignore[arg-type]
        )

    def earlier(self, by: timedelta) -> ReportSpec:
        """The same report `by` earlier on its zone's wall clock (the previous day or week)."""
        minutes = self.bucket_minutes
        return dataclasses.replace(
            self,
            start=wall_clock_back(self.start, tz=self.tz, by=by, minutes=minutes),
            end=wall_clock_back(self.end, tz=self.tz, by=by, minutes=minutes),
        )

    @property
    def group_dimension(self) -> str | None:
        """The Genesys dimension the breakdown groups by (None: no breakdown)."""
        return DIMENSIONS[GROUP_FILTERS[self.group]].analytics if self.group else None

    @property
    def filters(self) -> ConversationFilters:
        """The conversations the report covers, as the Genesys queries take them."""
        return ConversationFilters(
            media_types=self.media_types,
            directions=self.directions,
            queue_ids=self.queue_ids,
            user_ids=self.user_ids,
        )

    def is_live(self, *, now: datetime) -> bool:
        return self.end > now - LIVE_WINDOW

    def freshness(self, *, now: datetime) -> Freshness:
        """How much the report's data may still change: its cache freshness tier."""
        if self.is_live(now=now):
            return "live"
        return "settling" if self.end > now - SETTLING_WINDOW else "settled"


def report_spec_build(
    *,
    params: Mapping[str, str | list[str]],
    now: datetime,
    default_time_zone: str = "UTC",
) -> ReportSpec:
    """Validate request-style filters into a canonical ReportSpec.

    `params` holds query-string values (a list where a parameter repeats). Relative ranges
    resolve against `now` and snap to bucket edges, so requests a few minutes apart share a key.
    """
    # Reports end with the bucket that holds `now`, even at the very instant it starts ("today"
    # asked at 00:00:00.000000 is one bucket, not an empty range).
    now += timedelta(microseconds=1)
    time_zone = _one(params, "tz") or default_time_zone
    if time_zone not in _TIME_ZONES:
        raise ReportSpecError("tz", f"unknown time zone {time_zone[:40]!r}; use an IANA name")
    try:
        tz = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReportSpecError("tz", f"unknown time zone {time_zone[:40]!r}") from None

    granularity = _one(params, "granularity") or DEFAULT_GRANULARITY
    if granularity not in GRANULARITY_MINUTES:
        raise ReportSpecError("granularity", _choices(granularity, GRANULARITY_MINUTES))
    minutes = GRANULARITY_MINUTES[granularity]

    range_name = _one(params, "range") or ("custom" if _one(params, "start") else DEFAULT_RANGE)
    if range_name not in RANGES:
        raise ReportSpecError("range", _choices(range_name, RANGES))
    start, end = _resolve_range(range_name, params, now=now, tz=tz)

    start = bucket_floor(start, tz=tz, minutes=minutes)
    end = bucket_ceil(end, tz=tz, minutes=minutes)
    latest_end = bucket_ceil(now, tz=tz, minutes=minutes)
    if range_name == "last_24h":
        # 24 hours back from the end of the bucket of now, the same way at every granularity
        # (48 buckets of 30 minutes, 24 of an hour, one day).
        start = bucket_floor(latest_end - timedelta(hours=24), tz=tz, minutes=minutes)
    elif range_name == "last_7d":
        # The same seven local days, today included, whatever the bucket size.
        start = local_midnight(now.astimezone(tz).date() - timedelta(days=6), tz)
    if start >= latest_end:
        raise ReportSpecError("start", "the range starts in the future")
    end = min(end, latest_end)
    if end <= start:
        raise ReportSpecError("end", "must be after start")
    max_days = settings.REPORT_MAX_RANGE_DAYS
    # One extra bucket of slack: snapping outwards may push a full-length range over by one.
    if end - start > timedelta(days=max_days, minutes=minutes):
        raise ReportSpecError("end", f"the range may span at most {max_days} days")

    group = _one(params, "group")
    if group and group not in GROUPS:
        raise ReportSpecError("group", _choices(group, GROUPS))
    default_source = GROUP_SOURCES[0] if group else settings.ANALYTICS_SOURCE
    source = _one(params, "source") or default_source
    if source not in SOURCES:
        raise ReportSpecError("source", _choices(source, SOURCES))
    if group and source not in GROUP_SOURCES:
        raise ReportSpecError(
            "group",
            f"the {source} source cannot break a report down; leave the source out, or choose "
            f"{' or '.join(GROUP_SOURCES)}",
        )

    view_id = _one(params, "view") or DEFAULT_VIEW
    if not _ID_RE.match(view_id):
        raise ReportSpecError("view", "must be 1-64 letters, digits, '-' or '_'")
    if view_id != DEFAULT_VIEW and source not in VIEW_SOURCES:
        raise ReportSpecError(
            "view", f"the {source} source has no views; use {DEFAULT_VIEW!r} or source=graphql"
        )

    return ReportSpec(
        start=start,
        end=end,
        granularity=granularity,
        time_zone=time_zone,
        media_types=_choice_list(params, "type", MEDIA_TYPES),
        directions=_choice_list(params, "direction", DIRECTIONS, all_is_none=True),
        queue_ids=_id_list(params, "queue"),
        view_id=view_id,
        source=source,
        group=group,
    )


def drill_spec_build(
    *,
    params: Mapping[str, str | list[str]],
    now: datetime,
    default_time_zone: str = "UTC",
) -> ReportSpec:
    """The conversations behind one bucket (`at`: its start, as the report gives it) and/or one
    group (`member`: its id) of the report the other params name: a details listing of that
    interval and those filters, never more than one report's range."""
    report = report_spec_build(params=params, now=now, default_time_zone=default_time_zone)
    start, end = report.start, report.end
    if at_text := _one(params, "at"):
        try:
            at = datetime.fromisoformat(at_text)
        except ValueError:
            raise ReportSpecError("at", f"{at_text[:40]!r} is not an ISO 8601 time") from None
        if at.tzinfo is None:
            raise ReportSpecError("at", "give the bucket's start with its UTC offset")
        at = at.astimezone(UTC)
        minutes = report.bucket_minutes
        if (
            not report.start <= at < report.end
            or bucket_floor(at, tz=report.tz, minutes=minutes) != at
        ):
            raise ReportSpecError(
                "at", f"{at_text[:40]!r} is not the start of one of the report's buckets"
            )
        start, end = at, bucket_ceil(at + timedelta(microseconds=1), tz=report.tz, minutes=minutes)
    narrowed: dict[str, Any] = {}
    if member := _one(params, "member"):
        if not report.group:
            raise ReportSpecError(
                "member", "only a breakdown (group=...) has members to drill into"
            )
        field_name = GROUP_FILTERS[report.group]
        allowed = {"media": MEDIA_TYPES, "direction": DIRECTIONS}.get(report.group)
        if allowed is not None and member not in allowed:
            raise ReportSpecError("member", _choices(member, allowed))
        if allowed is None and not _ID_RE.match(member):
            raise ReportSpecError("member", f"{member[:70]!r} is not a valid id")
        chosen = getattr(report, field_name)
        if chosen and member not in chosen:
            raise ReportSpecError("member", f"{member[:70]!r} is not among the report's filters")
        narrowed[field_name] = (member,)
    return dataclasses.replace(
        report,
        start=start,
        end=end,
        source="details",
        view_id=DEFAULT_VIEW,
        group="",
        listing=True,
        **narrowed,
    )


def _resolve_range(
    range_name: str, params: Mapping[str, str | list[str]], *, now: datetime, tz: ZoneInfo
) -> tuple[datetime, datetime]:
    today = now.astimezone(tz).date()
    if range_name == "today":
        return local_midnight(today, tz), now
    if range_name == "yesterday":
        return local_midnight(today - timedelta(days=1), tz), local_midnight(today, tz)
    if range_name in ("last_24h", "last_7d"):
        # Resolved by report_spec_build, on bucket edges: the range ends with the bucket of now.
        return now, now
    start_text, end_text = _one(params, "start"), _one(params, "end")
    if not start_text:
        raise ReportSpecError("start", "required for a custom range (YYYY-MM-DD or ISO 8601)")
    if not end_text:
        raise ReportSpecError("end", "required for a custom range (YYYY-MM-DD or ISO 8601)")
    start = _parse_moment("start", start_text, tz=tz, end_of_day=False)
    end = _parse_moment("end", end_text, tz=tz, end_of_day=True)
    if end <= start:
        raise ReportSpecError("end", "must be after start")
    return start, end


def _parse_moment(name: str, text: str, *, tz: ZoneInfo, end_of_day: bool) -> datetime:
    """A date is a whole local day (an end date includes that day); a datetime without an
    offset is local time in the report's zone."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = local_midnight(day + timedelta(days=1) if end_of_day else day, tz)
        else:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=tz)
            moment = moment.astimezone(UTC)
    except ValueError:
        raise ReportSpecError(
            name, f"{text[:40]!r} is not a date (YYYY-MM-DD) or ISO 8601 datetime"
        ) from None
    except OverflowError:  # year 1 or 9999 pushed past datetime's range by an offset
        moment = None
    # Outside these years an offset or a bucket edge may overflow datetime, a year before 1000
    # does not survive to_dict(), and before 1970 offsets were not whole minutes (local mean time).
    if moment is None or not MIN_YEAR <= moment.year <= MAX_YEAR:
        raise ReportSpecError(name, f"must be between {MIN_YEAR} and {MAX_YEAR}")
    return moment


def _values(params: Mapping[str, str | list[str]], name: str) -> list[str]:
    raw = params.get(name, [])
    items = [raw] if isinstance(raw, str) else list(raw)
    # Accept both ?type=voice&type=chat and ?type=voice,chat.
    return [part.strip() for item in items for part in item.split(",") if part.strip()]


def _one(params: Mapping[str, str | list[str]], name: str) -> str:
    values = _values(params, name)
    if len(values) > 1:
        raise ReportSpecError(name, "give one value")
    return values[0] if values else ""


def _choice_list(
    params: Mapping[str, str | list[str]],
    name: str,
    allowed: Iterable[str],
    *,
    all_is_none: bool = False,
) -> tuple[str, ...]:
    allowed = tuple(allowed)
    values = sorted(set(_values(params, name)))
    for value in values:
        if value not in allowed:
            raise ReportSpecError(name, _choices(value, allowed))
    # Where `allowed` is every value there is (both directions), asking for all of them is the
    # same report as asking for none: one key for both.
    return () if all_is_none and set(values) == set(allowed) else tuple(values)


def _id_list(params: Mapping[str, str | list[str]], name: str) -> tuple[str, ...]:
    values = sorted(set(_values(params, name)))
    for value in values:
        if not _ID_RE.match(value):
            raise ReportSpecError(name, f"{value[:70]!r} is not a valid id")
    return tuple(values)


def _choices(value: str, allowed: Iterable[str]) -> str:
    return f"{value[:40]!r} is not allowed; choose one of {', '.join(allowed)}"


def _iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)
