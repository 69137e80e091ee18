from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics_worker import normalize
from analytics_worker.normalize import (
    BUCKET_FIELDS,
    CORE_FIELDS,
    BucketAccumulator,
)
from analytics_worker.reports import ReportSpec
from analytics_worker.timebuckets import bucket_edges, bucket_floor
from tests.analytics_worker.helpers import conversation

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY = datetime(2024, 5, 1, tzinfo=UTC)


def stamp(moment: datetime) -> str:
    """The fixed form GraphQL sends: UTC with milliseconds."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def accumulate(spec: ReportSpec, items: list[dict]) -> BucketAccumulator:
    accumulator = BucketAccumulator(spec)
    accumulator.add_conversations(items)
    return accumulator


def by_start(accumulator: BucketAccumulator) -> dict[str, dict]:
    return {bucket["start"]: bucket for bucket in accumulator.result()}


# -- the tutorial, as written -----------------------------------------------------------


def tutorial_normalize(raw_items: list[dict], bucket_minutes: int = 60) -> list[dict]:
    """normalizeAnalyticsData from the seed tutorial (Step 4), line for line.

    JS `x || 0` turns null into 0; `new Date(s).getTime()` is epoch milliseconds.
    """
    bucket_ms = bucket_minutes * 60 * 1000
    chart_data: dict[int, dict] = {}
    for item in raw_items:
        start_ms = (datetime.fromisoformat(item["startTime"]) - EPOCH) // timedelta(milliseconds=1)
        bucket_key = (start_ms // bucket_ms) * bucket_ms
        bucket = chart_data.setdefault(
            bucket_key,
            {"timestamp": bucket_key, "callCount": 0, "totalDuration": 0, "totalWaitTime": 0},
        )
        bucket["callCount"] += 1
        bucket["totalDuration"] += item["metrics"]["duration"] or 0
        bucket["totalWaitTime"] += item["metrics"]["waitTime"] or 0
    return sorted(chart_data.values(), key=lambda bucket: bucket["timestamp"])


def random_conversations(rnd: random.Random, count: int, *, start: datetime, hours: int) -> list:
    items = []
    for _ in range(count):
        moment = start + timedelta(milliseconds=rnd.randrange(hours * 3_600_000))
        form = rnd.random()
        if form < 0.8:
            text = stamp(moment)
        elif form < 0.9:
            # Same instant with an offset: its minute prefix differs from the UTC one, so the
            # per-minute cache must not be fooled by it.
            text = moment.astimezone(ZoneInfo("Asia/Kolkata")).isoformat(timespec="milliseconds")
        else:
            text = moment.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
        items.append(
            conversation(
                text,
                duration=rnd.choice([None, round(rnd.uniform(1, 1800), 3)]),
                wait=rnd.choice([None, 0.0, round(rnd.uniform(0, 300), 3)]),
                hold=rnd.choice([None, round(rnd.uniform(0, 120), 3)]),
            )
        )
    return items


@pytest.mark.parametrize("granularity,minutes", [("PT30M", 30), ("PT1H", 60)])
def test_it_matches_the_tutorial_for_utc_buckets(granularity: str, minutes: int) -> None:
    rnd = random.Random(20240501 + minutes)
    items = random_conversations(rnd, 400, start=DAY, hours=6)
    spec = ReportSpec(start=DAY, end=DAY + timedelta(hours=6), granularity=granularity)

    accumulator = accumulate(spec, items)

    expected = tutorial_normalize(items, minutes)
    buckets = {
        (datetime.fromisoformat(b["start"]) - EPOCH) // timedelta(milliseconds=1): b
        for b in accumulator.result()
    }
    assert len(buckets) == 6 * 60 // minutes
    assert {ms for ms, b in buckets.items() if b["conversations"]} == {
        e["timestamp"] for e in expected
    }
    for reference in expected:
        bucket = buckets[reference["timestamp"]]
        assert bucket["conversations"] == reference["callCount"]
        assert bucket["duration_sum"] == pytest.approx(reference["totalDuration"], abs=1e-3)
        assert bucket["wait_sum"] == pytest.approx(reference["totalWaitTime"], abs=1e-3)
    assert accumulator.items == 400
    assert accumulator.skipped == 0


def test_it_gives_the_same_buckets_page_by_page_as_all_at_once() -> None:
    items = random_conversations(random.Random(3), 300, start=DAY, hours=24)
    spec = ReportSpec(start=DAY, end=DAY + timedelta(days=1), granularity="PT15M")
    whole = accumulate(spec, items)

    paged = BucketAccumulator(spec)
    for offset in range(0, len(items), 25):
        paged.add_conversations(iter(items[offset : offset + 25]))  # any iterable will do

    assert paged.result() == whole.result()
    assert paged.items == whole.items == 300


def test_it_stays_exact_when_its_caches_are_full(monkeypatch: pytest.MonkeyPatch) -> None:
    items = random_conversations(random.Random(4), 300, start=DAY, hours=24)
    spec = ReportSpec(start=DAY, end=DAY + timedelta(days=1), granularity="PT30M")
    expected = accumulate(spec, items).result()
    monkeypatch.setattr(normalize, "_MAX_CACHED_MINUTES", 2)
    monkeypatch.setattr(normalize, "_MAX_CACHED_SUFFIXES", 2)

    assert accumulate(spec, items).result() == expected


# -- DST and odd offsets ---------------------------------------------------------------


def local_spec(day_from: str, day_to: str, *, tz: str, granularity: str) -> ReportSpec:
    zone = ZoneInfo(tz)
    return ReportSpec(
        start=datetime.fromisoformat(day_from).replace(tzinfo=zone).astimezone(UTC),
        end=datetime.fromisoformat(day_to).replace(tzinfo=zone).astimezone(UTC),
        granularity=granularity,
        time_zone=tz,
    )


def test_it_makes_a_25_hour_day_on_fall_back() -> None:
    spec = local_spec("2024-11-02", "2024-11-05", tz="America/New_York", granularity="P1D")
    edges = bucket_edges(
        start=spec.start, end=spec.end, granularity="P1D", time_zone="America/New_York"
    )

    lengths = [(b - a) / timedelta(hours=1) for a, b in zip(edges, edges[1:], strict=False)]

    assert lengths == [24, 25, 24]
    labels = [b["start"] for b in BucketAccumulator(spec).result()]
    assert labels == [
        "2024-11-02T00:00:00-04:00",
        "2024-11-03T00:00:00-04:00",
        "2024-11-04T00:00:00-05:00",
    ]


def test_it_makes_a_23_hour_day_on_spring_forward() -> None:
    spec = local_spec("2024-03-09", "2024-03-12", tz="America/New_York", granularity="P1D")
    edges = BucketAccumulator(spec).edges

    lengths = [(b - a) / timedelta(hours=1) for a, b in zip(edges, edges[1:], strict=False)]

    assert lengths == [24, 23, 24]


def test_it_keeps_both_repeated_hours_of_a_fall_back_night() -> None:
    spec = local_spec(
        "2024-11-03T00:00", "2024-11-03T03:00", tz="America/New_York", granularity="PT1H"
    )
    items = [
        conversation("2024-11-03T05:30:00.000Z"),  # 01:30 EDT, the first pass
        conversation("2024-11-03T06:30:00.000Z"),  # 01:30 EST, the second pass
        conversation("2024-11-03T06:59:59.999Z"),
    ]

    buckets = accumulate(spec, items).result()

    assert [(b["start"], b["conversations"]) for b in buckets] == [
        ("2024-11-03T00:00:00-04:00", 0),
        ("2024-11-03T01:00:00-04:00", 1),
        ("2024-11-03T01:00:00-05:00", 2),
        ("2024-11-03T02:00:00-05:00", 0),
    ]
    assert buckets[1]["end"] == buckets[2]["start"]


def test_it_has_no_bucket_for_the_skipped_spring_forward_hour() -> None:
    spec = local_spec(
        "2024-03-10T00:00", "2024-03-10T05:00", tz="America/New_York", granularity="PT1H"
    )

    starts = [b["start"] for b in BucketAccumulator(spec).result()]

    assert starts == [
        "2024-03-10T00:00:00-05:00",
        "2024-03-10T01:00:00-05:00",
        "2024-03-10T03:00:00-04:00",
        "2024-03-10T04:00:00-04:00",
    ]


@pytest.mark.parametrize(
    "tz,utc_minute", [("Asia/Kolkata", 30), ("Asia/Kathmandu", 15), ("UTC", 0)]
)
def test_it_starts_hours_on_the_local_hour(tz: str, utc_minute: int) -> None:
    spec = local_spec("2024-05-01", "2024-05-02", tz=tz, granularity="PT1H")
    items = [conversation(stamp(spec.start + timedelta(minutes=59, seconds=59)))]

    accumulator = accumulate(spec, items)

    assert len(accumulator.edges) == 25
    assert {edge.minute for edge in accumulator.edges} == {utc_minute}
    first = accumulator.result()[0]
    assert first["start"].startswith("2024-05-01T00:00:00")
    assert first["end"].startswith("2024-05-01T01:00:00")
    assert first["conversations"] == 1


def test_it_gives_lord_howe_a_90_minute_hour_on_its_half_hour_fall_back() -> None:
    # Australia/Lord_Howe goes from 02:00 +11:00 back to 01:30 +10:30: the 01:00 hour holds
    # 01:00-02:00 +11:00 and then 01:30-02:00 +10:30 again.
    spec = local_spec(
        "2024-04-07T00:00", "2024-04-07T04:00", tz="Australia/Lord_Howe", granularity="PT1H"
    )

    buckets = BucketAccumulator(spec).result()

    assert [(b["start"], b["end"]) for b in buckets] == [
        ("2024-04-07T00:00:00+11:00", "2024-04-07T01:00:00+11:00"),
        ("2024-04-07T01:00:00+11:00", "2024-04-07T02:00:00+10:30"),
        ("2024-04-07T02:00:00+10:30", "2024-04-07T03:00:00+10:30"),
        ("2024-04-07T03:00:00+10:30", "2024-04-07T04:00:00+10:30"),
    ]


@pytest.mark.parametrize(
    "tz", ["America/New_York", "Australia/Lord_Howe", "Pacific/Chatham", "Asia/Kolkata"]
)
@pytest.mark.parametrize("granularity,minutes", [("PT15M", 15), ("PT1H", 60), ("P1D", 1440)])
def test_it_puts_edges_exactly_where_bucket_floor_does(
    tz: str, granularity: str, minutes: int
) -> None:
    # Brute force over a year of 15-minute UTC steps (DST changes in both directions): an
    # instant is an edge iff it is its own bucket_floor.
    zone = ZoneInfo(tz)
    start = bucket_floor(datetime(2024, 1, 1, tzinfo=UTC), tz=zone, minutes=minutes)
    end = bucket_floor(datetime(2025, 1, 1, tzinfo=UTC), tz=zone, minutes=minutes)

    edges = bucket_edges(start=start, end=end, granularity=granularity, time_zone=tz)

    expected = []
    moment = start
    while moment <= end:
        if bucket_floor(moment, tz=zone, minutes=minutes) == moment:
            expected.append(moment)
        moment += timedelta(minutes=15)
    assert edges == expected


# -- counts, sums and what is left out --------------------------------------------------


def test_it_lists_empty_buckets_with_zeros() -> None:
    spec = ReportSpec(start=DAY, end=DAY + timedelta(hours=2), granularity="PT30M")

    buckets = accumulate(spec, [conversation("2024-05-01T00:45:00Z")]).result()

    assert [b["conversations"] for b in buckets] == [0, 1, 0, 0]
    assert buckets[0] == {
        "start": "2024-05-01T00:00:00+00:00",
        "end": "2024-05-01T00:30:00+00:00",
        **dict.fromkeys(CORE_FIELDS, 0),
    }
    assert all(type(buckets[0][name]) is (float if "_sum" in name else int) for name in CORE_FIELDS)


def test_it_leaves_null_metrics_out_of_sums_and_counts() -> None:
    spec = ReportSpec(start=DAY, end=DAY + timedelta(hours=1), granularity="PT1H")
    items = [
        conversation("2024-05-01T00:01:00.000Z", duration=100.5, wait=10.25, hold=None),
        conversation("2024-05-01T00:02:00.000Z", duration=None, wait=None, hold=30.0),
        conversation("2024-05-01T00:03:00.000Z", duration=20, wait=0.0, hold=None),
        {"id": "no-metrics", "startTime": "2024-05-01T00:04:00.000Z"},
        {"id": "null-metrics", "startTime": "2024-05-01T00:05:00.000Z", "metrics": None},
        {"id": "partial", "startTime": "2024-05-01T00:06:00.000Z", "metrics": {"waitTime": 1}},
    ]

    (bucket,) = accumulate(spec, items).result()

    assert bucket["conversations"] == 6
    assert (bucket["duration_sum"], bucket["duration_count"]) == (120.5, 2)
    assert (bucket["wait_sum"], bucket["wait_count"]) == (11.25, 3)  # 0.0 is a real wait
    assert (bucket["hold_sum"], bucket["hold_count"]) == (30.0, 1)


def test_it_treats_metrics_that_are_not_finite_numbers_as_absent() -> None:
    spec = ReportSpec(start=DAY, end=DAY + timedelta(hours=1), granularity="PT1H")
    bad_values = ["12", True, [], {}, float("nan"), float("inf"), 10**400]
    items = [conversation("2024-05-01T00:10:00Z", duration=v, wait=v, hold=v) for v in bad_values]
    items.append({"startTime": "2024-05-01T00:11:00Z", "metrics": ["not", "a", "dict"]})

    accumulator = accumulate(spec, items)

    assert accumulator.totals() == {
        **dict.fromkeys(CORE_FIELDS, 0),
        "conversations": len(bad_values) + 1,
    }
    assert accumulator.skipped == 0


def test_it_rounds_sums_to_three_decimals() -> None:
    spec = ReportSpec(start=DAY, end=DAY + timedelta(hours=1), granularity="PT1H")
    items = [conversation("2024-05-01T00:01:00Z", duration=0.1) for _ in range(3)]
    items.append(conversation("2024-05-01T00:01:00Z", duration=1.23456))

    (bucket,) = accumulate(spec, items).result()

    assert bucket["duration_sum"] == 1.535


def test_it_skips_conversations_outside_the_range() -> None:
    spec = ReportSpec(start=DAY, end=DAY + timedelta(hours=1), granularity="PT30M")
    items = [
        conversation("2024-04-30T23:59:59.999Z"),
        conversation("2024-05-01T00:00:00.000Z"),  # start is inclusive
        conversation("2024-05-01T00:59:59.999Z"),
        conversation("2024-05-01T01:00:00.000Z"),  # end is exclusive
        conversation("2024-05-01T05:30:00+05:30"),  # 00:00 UTC: inside
        conversation("2024-05-01T06:30:00+05:30"),  # 01:00 UTC: outside
    ]

    accumulator = accumulate(spec, items)

    assert [b["conversations"] for b in accumulator.result()] == [2, 1]
    assert (accumulator.items, accumulator.skipped) == (6, 3)


def test_it_skips_and_counts_malformed_items() -> None:
    spec = ReportSpec(start=DAY, end=DAY + timedelta(hours=1), granularity="PT1H")
    good = conversation("2024-05-01T00:10:00.000Z")
    malformed = [
        {"id": "no-start"},
        conversation(None),
        conversation(123),
        conversation(["2024-05-01T00:10:00.000Z"]),
        conversation(b"2024-05-01T00:10:00.000Z"),
        conversation(""),
        conversation("yesterday"),
        # A minute the fast path has already seen, with an impossible second.
        conversation("2024-05-01T00:10:61.000Z"),
        conversation("2024-05-01T00:10:00.000Zjunk"),
        None,
        "2024-05-01T00:10:00.000Z",
        ["startTime"],
    ]

    accumulator = accumulate(spec, [good, *malformed, good])

    assert accumulator.result()[0]["conversations"] == 2
    assert accumulator.items == len(malformed) + 2
    assert accumulator.skipped == len(malformed)


def test_it_reads_a_timestamp_without_offset_as_utc() -> None:
    spec = ReportSpec(start=DAY, end=DAY + timedelta(hours=2), granularity="PT1H")

    accumulator = accumulate(spec, [conversation("2024-05-01T01:15:00")])

    assert [b["conversations"] for b in accumulator.result()] == [0, 1]


def test_it_partitions_a_range_that_does_not_start_on_an_edge() -> None:
    start = DAY + timedelta(minutes=10, seconds=30)
    spec = ReportSpec(start=start, end=DAY + timedelta(hours=1), granularity="PT30M")
    items = [conversation("2024-05-01T00:10:29Z"), conversation("2024-05-01T00:10:31Z")]

    accumulator = accumulate(spec, items)

    assert [b["start"] for b in accumulator.result()] == [
        "2024-05-01T00:10:30+00:00",
        "2024-05-01T00:30:00+00:00",
    ]
    assert accumulator.totals()["conversations"] == 1
    assert accumulator.skipped == 1


# -- pre-aggregated values ------------------------------------------------------------


def test_it_adds_pre_aggregated_values_to_the_containing_bucket() -> None:
    spec = ReportSpec(start=DAY, end=DAY + timedelta(hours=1), granularity="PT30M")
    accumulator = BucketAccumulator(spec)
    accumulator.add_conversations([conversation("2024-05-01T00:05:00Z", duration=10.0)])

    accumulator.add_bucket_values(DAY, {"offered": 5, "answered": 4, "handle_sum": 300.5})
    accumulator.add_bucket_values(DAY + timedelta(minutes=40), {"offered": 2, "duration_sum": 7})
    accumulator.add_bucket_values(DAY + timedelta(hours=1), {"offered": 99})  # outside

    first, second = accumulator.result()
    assert (first["offered"], first["answered"], first["handle_sum"]) == (5, 4, 300.5)
    assert (second["offered"], second["answered"], second["handle_sum"]) == (2, 0, 0.0)
    assert (first["duration_sum"], second["duration_sum"]) == (10.0, 7.0)
    # Only what some call filled is reported; abandoned, talk_sum, ... stay unknown.
    assert set(first) == {"start", "end", *CORE_FIELDS, "offered", "answered", "handle_sum"}
    assert list(first)[2:] == [name for name in BUCKET_FIELDS if name in first]


def test_it_reports_no_optional_fields_from_conversations_alone() -> None:
    spec = ReportSpec(start=DAY, end=DAY + timedelta(hours=1), granularity="PT1H")

    accumulator = accumulate(spec, [conversation("2024-05-01T00:05:00Z")])

    assert set(accumulator.result()[0]) == {"start", "end", *CORE_FIELDS}
    assert set(accumulator.totals()) == set(CORE_FIELDS)


def test_it_refuses_unknown_fields_and_non_numbers() -> None:
    spec = ReportSpec(start=DAY, end=DAY + timedelta(hours=1), granularity="PT1H")
    accumulator = BucketAccumulator(spec)

    for values in ({"avg_wait": 1.0}, {"offered": "3"}, {"offered": True}, {"talk_sum": 1e999}):
        with pytest.raises(ValueError):
            accumulator.add_bucket_values(DAY, values)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        accumulator.add_bucket_values(DAY.replace(tzinfo=None), {"offered": 1})
    assert "offered" not in accumulator.result()[0]


def test_it_sums_totals_over_all_buckets() -> None:
    spec = ReportSpec(start=DAY, end=DAY + timedelta(hours=2), granularity="PT30M")
    accumulator = accumulate(
        spec,
        [
            conversation("2024-05-01T00:05:00Z", duration=10.5, wait=None, hold=2.0),
            conversation("2024-05-01T01:35:00Z", duration=20.25, wait=4.0, hold=None),
            conversation("2024-05-01T01:36:00Z", duration=None, wait=1.0, hold=None),
        ],
    )
    accumulator.add_bucket_values(DAY + timedelta(minutes=30), {"abandoned": 3})

    assert accumulator.totals() == {
        "conversations": 3,
        "duration_sum": 30.75,
        "duration_count": 2,
        "wait_sum": 5.0,
        "wait_count": 2,
        "hold_sum": 2.0,
        "hold_count": 1,
        "abandoned": 3,
    }


# -- property: the caches never change an answer ---------------------------------------

STAMP_FORMS = st.sampled_from(["ms", "s", "minute", "micro", "offset", "naive"])


def render(moment: datetime, form: str) -> str:
    if form == "ms":
        return stamp(moment)
    if form == "s":
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if form == "minute":
        return moment.strftime("%Y-%m-%dT%H:%MZ")
    if form == "micro":
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if form == "offset":
        return moment.astimezone(ZoneInfo("Asia/Kathmandu")).isoformat()
    return moment.replace(tzinfo=None).isoformat()


def expected_bucket(edges: list[datetime], text: str) -> int:
    moment = datetime.fromisoformat(text)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    for index, (low, high) in enumerate(zip(edges, edges[1:], strict=False)):
        if low <= moment < high:
            return index
    return -1


@settings(max_examples=60, deadline=None)
@given(
    tz=st.sampled_from(["UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]),
    granularity=st.sampled_from(["PT15M", "PT30M", "PT1H", "P1D"]),
    stamps=st.lists(
        st.tuples(st.integers(-2 * 86_400_000, 5 * 86_400_000), STAMP_FORMS), max_size=60
    ),
)
def test_it_puts_every_stamp_in_the_bucket_that_holds_it(
    tz: str, granularity: str, stamps: list[tuple[int, str]]
) -> None:
    # 2024-11-03 holds New York's fall-back; Lord Howe's spring-forward is 2024-10-06.
    spec = local_spec("2024-11-01", "2024-11-04", tz=tz, granularity=granularity)
    base = datetime(2024, 11, 1, tzinfo=UTC)
    texts = [render(base + timedelta(milliseconds=ms), form) for ms, form in stamps]

    accumulator = accumulate(spec, [conversation(text) for text in texts])

    counts = [0] * (len(accumulator.edges) - 1)
    for text in texts:
        index = expected_bucket(accumulator.edges, text)
        if index >= 0:
            counts[index] += 1
    assert [b["conversations"] for b in accumulator.result()] == counts
    assert accumulator.skipped == len(texts) - sum(counts)


def test_a_breakdown_keeps_each_groups_buckets_and_every_report_its_media_totals():
    spec = ReportSpec(start=DAY, end=DAY + timedelta(hours=1), granularity="PT30M")
    accumulator = BucketAccumulator(spec)
    later = DAY + timedelta(minutes=30)
    accumulator.add_bucket_values(DAY, {"offered": 2, "talk_sum": 5.0}, group="q-a", media="voice")
    accumulator.add_bucket_values(later, {"offered": 7}, group="q-b", media="email")
    accumulator.add_bucket_values(later, {"offered": 1}, group="q-a", media="voice")

    assert [b["offered"] for b in accumulator.result()] == [2, 8]
    groups = accumulator.group_results()
    # The largest group first; series only of the chartable fields (the core ones are always
    # there), every field in the totals.
    assert [g["id"] for g in groups] == ["q-b", "q-a"]
    assert groups[1]["series"] == {"offered": [2, 1], "wait_sum": [0.0, 0.0], "wait_count": [0, 0]}
    assert groups[1]["totals"]["talk_sum"] == 5.0
    assert accumulator.media_results() == {
        "email": {"offered": 7},
        "voice": {"offered": 3, "talk_sum": 5.0},
    }
