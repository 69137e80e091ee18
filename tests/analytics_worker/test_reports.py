from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from django.conf import LazySettings
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from analytics_worker.reports import (
    DIRECTIONS,
    GRANULARITY_MINUTES,
    GROUP_SOURCES,
    GROUPS,
    MEDIA_TYPES,
    RANGES,
    SOURCES,
    ReportSpec,
    ReportSpecError,
    report_spec_build,
)
from analytics_worker.timebuckets import bucket_ceil

# A Wednesday, mid-bucket for every granularity.
NOW = datetime(2024, 5, 15, 10, 17, 23, 456789, tzinfo=UTC)


@pytest.fixture(autouse=True)
def graphql_source(settings: LazySettings) -> None:
    # Most tests here use views, which only the GraphQL source has; the default source (from
    # ANALYTICS_SOURCE) has tests of its own at the end.
    settings.ANALYTICS_SOURCE = "graphql"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def build(now: datetime = NOW, **params: str | list[str]) -> ReportSpec:
    return report_spec_build(params=params, now=now)


def error(**params: str | list[str]) -> ReportSpecError:
    with pytest.raises(ReportSpecError) as caught:
        build(**params)
    return caught.value


# -- range presets ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params,start,end",
    [
        ({"range": "today"}, "2024-05-15T00:00", "2024-05-15T10:30"),
        ({"range": "yesterday"}, "2024-05-14T00:00", "2024-05-15T00:00"),
        # "Last 24 hours" is 24 hours back from the end of the bucket of now.
        ({"range": "last_24h"}, "2024-05-14T10:30", "2024-05-15T10:30"),
        ({}, "2024-05-14T10:30", "2024-05-15T10:30"),  # last_24h is the default
        # "Last 7 days" is seven local days, today included, at every granularity.
        ({"range": "last_7d"}, "2024-05-09T00:00", "2024-05-15T10:30"),
        (
            {"range": "custom", "start": "2024-05-01", "end": "2024-05-03"},
            "2024-05-01",
            "2024-05-04",
        ),
        ({"start": "2024-05-01", "end": "2024-05-03"}, "2024-05-01", "2024-05-04"),  # implied
        ({"range": "today", "granularity": "PT1H"}, "2024-05-15T00:00", "2024-05-15T11:00"),
        ({"range": "last_24h", "granularity": "PT15M"}, "2024-05-14T10:30", "2024-05-15T10:30"),
        ({"range": "last_24h", "granularity": "PT1H"}, "2024-05-14T11:00", "2024-05-15T11:00"),
        ({"range": "last_24h", "granularity": "P1D"}, "2024-05-15T00:00", "2024-05-16T00:00"),
        ({"range": "last_7d", "granularity": "P1D"}, "2024-05-09T00:00", "2024-05-16T00:00"),
        ({"range": "last_7d", "granularity": "PT1H"}, "2024-05-09T00:00", "2024-05-15T11:00"),
    ],
)
def test_it_resolves_each_range_against_now(params: dict, start: str, end: str) -> None:
    spec = build(**params)

    assert (spec.start, spec.end) == (utc(start), utc(end))
    assert spec.granularity == params.get("granularity", "PT30M")


def test_it_resolves_today_and_yesterday_in_the_reports_time_zone() -> None:
    # 10:17 UTC is 06:17 in New York (EDT, -04:00) and 15:47 in Kolkata (+05:30).
    today_ny = build(range="today", tz="America/New_York")
    yesterday_in = build(range="yesterday", tz="Asia/Kolkata", granularity="PT1H")

    assert (today_ny.start, today_ny.end) == (utc("2024-05-15T04:00"), utc("2024-05-15T10:30"))
    assert (yesterday_in.start, yesterday_in.end) == (
        utc("2024-05-13T18:30"),
        utc("2024-05-14T18:30"),
    )


def test_it_uses_the_default_time_zone_when_none_is_given() -> None:
    spec = report_spec_build(params={"range": "today"}, now=NOW, default_time_zone="Asia/Tokyo")

    assert spec.time_zone == "Asia/Tokyo"
    assert spec.start == utc("2024-05-14T15:00")


# -- snapping and canonical keys ----------------------------------------------------------


@pytest.mark.parametrize("range_name", ["today", "last_24h", "last_7d"])
def test_it_gives_one_key_to_requests_within_one_bucket(range_name: str) -> None:
    early = build(now=utc("2024-05-15T10:00:00.000001"), range=range_name)
    late = build(now=utc("2024-05-15T10:29:59"), range=range_name)
    next_bucket = build(now=utc("2024-05-15T10:30:01"), range=range_name)

    assert early.key == late.key
    assert next_bucket.key != late.key


@pytest.mark.parametrize(
    "variants",
    [
        [
            {"type": "voice,chat"},
            {"type": ["chat", "voice"]},
            {"type": [" chat ", "voice", "chat"]},
            {"type": ["voice", "chat,"]},
        ],
        [{"queue": "q-2,q-1"}, {"queue": ["q-1", "q-2"]}, {"queue": ["q-2", "q-1", "q-2"]}],
        [{}, {"direction": "outbound,inbound"}, {"type": ""}, {"queue": ""}],
        [{}, {"view": "all"}, {"source": "graphql"}, {"tz": "UTC"}, {"granularity": "PT30M"}],
        [
            {"range": "custom", "start": "2024-05-01", "end": "2024-05-02"},
            {"start": "2024-05-01", "end": "2024-05-02"},
        ],
    ],
)
def test_it_gives_one_key_to_one_report_written_differently(variants: list[dict]) -> None:
    keys = {build(**params).key for params in variants}

    assert len(keys) == 1


def test_every_listed_media_type_is_a_filter_not_all() -> None:
    # Real orgs have media types beyond the listed ones (video, cobrowse...): picking every
    # listed one leaves those out, so it is not the report with no filter.
    every_listed = build(type=",".join(MEDIA_TYPES))
    assert every_listed.media_types == tuple(sorted(MEDIA_TYPES))
    assert every_listed.key != build().key
    assert "callback" in MEDIA_TYPES


def test_it_gives_different_filters_different_keys() -> None:
    variants = [
        {},
        {"type": "voice"},
        {"type": "chat"},
        {"type": "voice,chat"},
        {"direction": "inbound"},
        {"queue": "q-1"},
        {"queue": "q-2"},
        {"view": "sales"},
        {"tz": "Europe/London"},
        {"granularity": "PT1H"},
        {"range": "today"},
        {"group": "queue"},
        {"group": "agent"},
    ]

    keys = [build(**params).key for params in variants]

    assert len(set(keys)) == len(variants)


def test_it_keys_on_the_canonical_json() -> None:
    spec = build(type="voice", queue="q-1")

    assert orjson.loads(spec.canonical_json()) == {
        "schema": 2,
        "start": "2024-05-14T10:30:00Z",
        "end": "2024-05-15T10:30:00Z",
        "granularity": "PT30M",
        "time_zone": "UTC",
        "media_types": ["voice"],
        "directions": [],
        "queue_ids": ["q-1"],
        "view_id": "all",
        "source": "graphql",
        "group": "",
        "listing": False,
        "user_ids": [],
    }
    assert len(spec.key) == 64


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"range": "today", "tz": "America/New_York", "type": "voice,email", "queue": "a,b"},
        {"start": "2024-05-01T09:00", "end": "2024-05-02", "tz": "Asia/Kathmandu"},
        {"range": "yesterday", "granularity": "P1D", "direction": "inbound", "view": "v_1"},
        {"group": "agent", "queue": "a"},
    ],
)
def test_it_round_trips_through_to_dict_with_the_same_key(params: dict) -> None:
    spec = build(**params)

    again = ReportSpec.from_dict(orjson.loads(orjson.dumps(spec.to_dict())))

    assert again == spec
    assert again.key == spec.key


# -- custom ranges --------------------------------------------------------------------------


def test_it_includes_the_whole_end_day_of_a_custom_range() -> None:
    spec = build(start="2024-05-01", end="2024-05-01", tz="America/New_York")

    assert (spec.start, spec.end) == (utc("2024-05-01T04:00"), utc("2024-05-02T04:00"))


def test_it_reads_naive_datetimes_in_the_reports_time_zone() -> None:
    spec = build(start="2024-05-01T09:00", end="2024-05-01T12:00:00", tz="Asia/Kolkata")

    assert (spec.start, spec.end) == (utc("2024-05-01T03:30"), utc("2024-05-01T06:30"))


def test_it_honours_an_explicit_offset() -> None:
    spec = build(start="2024-05-01T09:00:00+02:00", end="2024-05-01T12:00:00Z", tz="Asia/Kolkata")

    assert (spec.start, spec.end) == (utc("2024-05-01T07:00"), utc("2024-05-01T12:00"))


def test_it_snaps_a_custom_range_outwards_to_bucket_edges() -> None:
    spec = build(start="2024-05-01T09:10", end="2024-05-01T10:01", granularity="PT30M")

    assert (spec.start, spec.end) == (utc("2024-05-01T09:00"), utc("2024-05-01T10:30"))


def test_it_clamps_the_end_to_the_bucket_holding_now() -> None:
    spec = build(start="2024-05-10", end="2024-06-30")

    assert spec.end == utc("2024-05-15T10:30")


def test_it_rejects_a_range_that_starts_in_the_future() -> None:
    caught = error(start="2024-05-16", end="2024-05-17")

    assert caught.field == "start"
    assert "future" in caught.message


def test_it_accepts_a_start_inside_the_current_bucket() -> None:
    spec = build(start="2024-05-15T10:20", end="2024-05-15T11:00")

    assert (spec.start, spec.end) == (utc("2024-05-15T10:00"), utc("2024-05-15T10:30"))


def test_it_limits_the_range_to_the_configured_days(settings: LazySettings) -> None:
    settings.REPORT_MAX_RANGE_DAYS = 7

    build(start="2024-05-01", end="2024-05-07")  # seven whole days
    build(range="last_7d")  # seven days plus the bucket that holds now
    caught = error(start="2024-05-01", end="2024-05-08")

    assert caught.field == "end"
    assert "7 days" in caught.message
    settings.REPORT_MAX_RANGE_DAYS = 6
    assert error(range="last_7d").field == "end"


def test_it_allows_a_full_month_by_default() -> None:
    build(start="2024-04-01", end="2024-04-30", granularity="PT15M")
    assert error(start="2024-04-01", end="2024-05-02").field == "end"


# -- validation: every error names its field ----------------------------------------------


@pytest.mark.parametrize(
    "params,field,allowed",
    [
        ({"tz": "Mars/Olympus"}, "tz", None),
        ({"tz": "utc"}, "tz", None),
        ({"tz": "UTC,Europe/Paris"}, "tz", None),
        ({"granularity": "PT5M"}, "granularity", GRANULARITY_MINUTES),
        ({"range": "forever"}, "range", RANGES),
        ({"range": "custom"}, "start", None),
        ({"range": "custom", "start": "2024-05-01"}, "end", None),
        ({"start": "May 1st", "end": "2024-05-02"}, "start", None),
        ({"start": "2024-05-01", "end": "2024-13-01"}, "end", None),
        ({"start": "2024-05-02", "end": "2024-05-01T12:00"}, "end", None),
        ({"start": "1969-12-31", "end": "1970-01-02"}, "start", None),
        ({"start": "2024-05-01", "end": "9999-12-31"}, "end", None),
        ({"type": "fax"}, "type", MEDIA_TYPES),
        ({"type": "voice,fax"}, "type", MEDIA_TYPES),
        ({"direction": "sideways"}, "direction", DIRECTIONS),
        ({"queue": "q 1"}, "queue", None),
        ({"queue": "x" * 65}, "queue", None),
        ({"view": "../etc"}, "view", None),
        ({"view": ["a", "b"]}, "view", None),
        ({"source": "genesys"}, "source", SOURCES),
        ({"group": "skill"}, "group", GROUPS),
        ({"group": "queue", "source": "graphql"}, "group", GROUP_SOURCES),
        ({"group": "queue", "source": "details"}, "group", GROUP_SOURCES),
    ],
)
def test_it_names_the_field_of_each_invalid_input(
    params: dict, field: str, allowed: tuple | dict | None
) -> None:
    caught = error(**params)

    assert caught.field == field
    assert str(caught).startswith(f"{field}: ")
    for value in allowed or ():
        assert value in caught.message


@pytest.mark.parametrize(
    "params",
    [
        {"tz": "Europe/" + "x" * 5000},
        {"granularity": "x" * 5000},
        {"range": "x" * 5000},
        {"start": "x" * 5000, "end": "2024-05-02"},
    ],
)
def test_it_cuts_long_input_in_its_messages(params: dict) -> None:
    # The message is shown on the page: a pasted novel must not come back whole.
    caught = error(**params)

    assert len(caught.message) < 200
    assert "x" * 41 not in caught.message


# -- is_live ------------------------------------------------------------------------------


def test_it_is_live_while_the_range_reaches_into_the_last_two_hours() -> None:
    spec = ReportSpec(start=utc("2024-05-15T00:00"), end=utc("2024-05-15T08:30"))

    assert spec.is_live(now=utc("2024-05-15T10:29"))
    assert not spec.is_live(now=utc("2024-05-15T10:30"))
    assert build(range="today").is_live(now=NOW)
    assert not build(range="yesterday").is_live(now=NOW)


# -- property: bad input only ever raises ReportSpecError ---------------------------------

PARAMS = (
    "tz",
    "granularity",
    "range",
    "start",
    "end",
    "type",
    "direction",
    "queue",
    "view",
    "source",
)
GOOD_VALUES = {
    "tz": ["UTC", "America/New_York", "Asia/Kathmandu", "Pacific/Kiritimati", "Etc/GMT+12"],
    "granularity": list(GRANULARITY_MINUTES),
    "range": list(RANGES),
    "start": ["2024-05-01", "0001-01-01", "9999-12-31", "2024-05-15T10:20:00+14:00"],
    "end": ["2024-05-02", "9999-12-31", "0001-01-01T00:00:00+01:00", "2024-05-15T23:59"],
    "type": list(MEDIA_TYPES),
    "direction": list(DIRECTIONS),
    "queue": ["q-1", "a" * 64],
    "view": ["all", "v_1"],
    "source": list(SOURCES),
}


def param_values(name: str) -> st.SearchStrategy[str | list[str]]:
    one = st.one_of(st.text(max_size=40), st.sampled_from(GOOD_VALUES[name]))
    return st.one_of(one, st.lists(one, max_size=3))


@hypothesis_settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    params=st.fixed_dictionaries({}, optional={name: param_values(name) for name in PARAMS}),
    now=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
)
@example(params={"start": "0001-01-01", "end": "0001-01-02", "tz": "Asia/Tokyo"}, now=NOW)
@example(params={"start": "2024-05-01", "end": "9999-12-31"}, now=NOW)
@example(params={"start": "0001-01-01T00:00+01:00", "end": "2024-05-02"}, now=NOW)
def test_it_raises_only_report_spec_errors(params: dict, now: datetime) -> None:
    try:
        spec = report_spec_build(params=params, now=now)
    except ReportSpecError as caught:
        assert caught.field in PARAMS
        return
    # A report ends at the latest with the bucket that holds `now`.
    end_of_now = bucket_ceil(
        now + timedelta(microseconds=1), tz=spec.tz, minutes=spec.bucket_minutes
    )
    assert spec.start < spec.end <= end_of_now
    assert ReportSpec.from_dict(spec.to_dict()).key == spec.key


def test_the_source_defaults_to_the_setting(settings: LazySettings) -> None:
    settings.ANALYTICS_SOURCE = "aggregates"
    assert build().source == "aggregates"
    assert build(source="details").source == "details"
    assert build().key != build(source="graphql").key


def test_a_breakdown_comes_from_the_aggregates_whatever_the_default_source(
    settings: LazySettings,
) -> None:
    settings.ANALYTICS_SOURCE = "graphql"
    spec = build(group="queue")
    assert (spec.source, spec.group, spec.group_dimension) == ("aggregates", "queue", "queueId")
    assert build(group="agent").group_dimension == "userId"
    assert build(group="media", source="aggregates").key == build(group="media").key
    # Without a breakdown the report is the plain one, keyed apart from every breakdown.
    assert build().group_dimension is None
    assert build(source="aggregates").key not in {build(group=g).key for g in GROUPS}


@pytest.mark.parametrize("source", ["aggregates", "details"])
def test_a_rest_source_refuses_views(settings: LazySettings, source: str) -> None:
    settings.ANALYTICS_SOURCE = source
    assert build(view="all").view_id == "all"
    caught = error(view="view-sales")
    assert caught.field == "view"
    assert "source=graphql" in caught.message


def test_today_at_the_stroke_of_midnight_is_its_first_bucket() -> None:
    midnight = datetime(2024, 5, 15, tzinfo=UTC)
    spec = build(now=midnight, range="today")
    assert (spec.start, spec.end) == (midnight, midnight + timedelta(minutes=30))


def test_it_ranks_how_much_a_report_may_still_change() -> None:
    def ending(hours_ago: float) -> ReportSpec:
        end = NOW - timedelta(hours=hours_ago)
        return ReportSpec(start=end - timedelta(days=1), end=end)

    assert ending(1).freshness(now=NOW) == "live"
    # Genesys re-processes the last 48 hours nightly: such a report is still settling.
    assert ending(3).freshness(now=NOW) == "settling"
    assert ending(47.9).freshness(now=NOW) == "settling"
    assert ending(48).freshness(now=NOW) == "settled"


def test_the_same_report_a_day_earlier_keeps_its_wall_clock_across_dst() -> None:
    # The Sunday of the fall-back change in New York, and the Saturday before it: both start at
    # local midnight, though 25 hours apart.
    spec = build(
        now=datetime(2024, 12, 1, tzinfo=UTC),
        range="custom",
        start="2024-11-03",
        end="2024-11-03",
        tz="America/New_York",
    )
    before = spec.earlier(timedelta(days=1))
    assert before.start == datetime(2024, 11, 2, 4, tzinfo=UTC)  # 00:00 EDT
    assert before.end == datetime(2024, 11, 3, 4, tzinfo=UTC)
    assert spec.start - before.start == timedelta(hours=24)
    assert spec.end - before.end == timedelta(hours=25)
    assert (before.granularity, before.key == spec.key) == (spec.granularity, False)
