"""Bucket edges on a zone's wall clock (analytics_worker/timebuckets.py), across DST and odd
offsets; the normaliser's buckets over the same nights are tested in test_normalize.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from analytics_worker.timebuckets import GRANULARITY_MINUTES, bucket_ceil, bucket_floor

# A Wednesday, mid-bucket for every granularity.
NOW = datetime(2024, 5, 15, 10, 17, 23, 456789, tzinfo=UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


NEW_YORK = ZoneInfo("America/New_York")


def test_it_floors_the_repeated_fall_back_hour_within_its_own_pass() -> None:
    first_pass, second_pass = utc("2024-11-03T05:40"), utc("2024-11-03T06:40")  # both 01:40

    assert bucket_floor(first_pass, tz=NEW_YORK, minutes=60) == utc("2024-11-03T05:00")
    assert bucket_floor(second_pass, tz=NEW_YORK, minutes=60) == utc("2024-11-03T06:00")
    assert bucket_ceil(first_pass, tz=NEW_YORK, minutes=60) == utc("2024-11-03T06:00")
    assert bucket_floor(second_pass, tz=NEW_YORK, minutes=1440) == utc("2024-11-03T04:00")
    assert bucket_ceil(second_pass, tz=NEW_YORK, minutes=1440) == utc("2024-11-04T05:00")


def test_it_steps_over_the_skipped_spring_forward_hour() -> None:
    # 01:30 EST; the next local hour is 03:00 EDT, one real hour later.
    assert bucket_ceil(utc("2024-03-10T06:30"), tz=NEW_YORK, minutes=60) == utc("2024-03-10T07:00")
    assert bucket_floor(utc("2024-03-10T07:00"), tz=NEW_YORK, minutes=60) == utc("2024-03-10T07:00")


def test_it_starts_half_hour_offset_hours_at_half_past_utc() -> None:
    kolkata = ZoneInfo("Asia/Kolkata")

    assert bucket_floor(NOW, tz=kolkata, minutes=60) == utc("2024-05-15T09:30")
    assert bucket_ceil(NOW, tz=kolkata, minutes=60) == utc("2024-05-15T10:30")
    assert bucket_floor(NOW, tz=ZoneInfo("Asia/Kathmandu"), minutes=60) == utc("2024-05-15T10:15")


def test_it_keeps_lord_howes_half_hour_fall_back_on_real_edges() -> None:
    # 02:00 +11:00 -> 01:30 +10:30 at 15:00 UTC: 01:45 +10:30 still belongs to the 01:00 hour,
    # which started at 14:00 UTC (01:00 +11:00), and the next hour starts at 02:00 +10:30.
    lord_howe = ZoneInfo("Australia/Lord_Howe")
    moment = utc("2024-04-06T15:15")

    assert bucket_floor(moment, tz=lord_howe, minutes=60) == utc("2024-04-06T14:00")
    assert bucket_ceil(moment, tz=lord_howe, minutes=60) == utc("2024-04-06T15:30")


ODD_ZONES = [
    "UTC",
    "America/New_York",
    "America/Santiago",  # DST changes at midnight
    "America/St_Johns",  # -03:30
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",  # 30-minute DST
    "Pacific/Chatham",  # +12:45, DST changes at 02:45
    "Europe/London",
]


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(ODD_ZONES),
    minutes=st.sampled_from(sorted(GRANULARITY_MINUTES.values())),
    moment=st.datetimes(
        min_value=datetime(2015, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
    ),
)
@example(zone="Australia/Lord_Howe", minutes=60, moment=utc("2024-04-06T15:15"))
@example(zone="Pacific/Chatham", minutes=30, moment=utc("2024-04-06T14:08"))
@example(zone="America/New_York", minutes=60, moment=utc("2024-11-03T06:30"))
@example(zone="America/Santiago", minutes=1440, moment=utc("2024-09-08T04:30"))
def test_it_floors_to_the_latest_edge_and_ceils_to_the_next(
    zone: str, minutes: int, moment: datetime
) -> None:
    tz = ZoneInfo(zone)

    floor = bucket_floor(moment, tz=tz, minutes=minutes)
    ceil = bucket_ceil(moment, tz=tz, minutes=minutes)

    assert floor <= moment <= ceil
    assert bucket_floor(floor, tz=tz, minutes=minutes) == floor  # an edge is its own floor
    assert bucket_floor(ceil, tz=tz, minutes=minutes) == ceil
    assert (floor == moment) == (ceil == moment)
    if floor < moment:
        # No edge in between: the instant before the ceiling still floors to the floor.
        assert bucket_floor(ceil - timedelta(microseconds=1), tz=tz, minutes=minutes) == floor
        assert ceil - floor <= timedelta(minutes=minutes + 60)
