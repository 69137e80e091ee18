"""The Genesys aggregates source: the client's request bodies and rows, the metric mapping to
bucket fields (normalize), the report layer's chunks and group sums (sources), and agreement with
the details source and the GraphQL contract on the simulated org."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from itertools import product
from typing import Any

import fakeredis
import orjson
import pytest
import responses

from analytics_worker.genesys.aggregates import (
    aggregates_query,
    aggregates_query_body,
    metric_stats,
)
from analytics_worker.genesys.details import details_conversation_pages, details_query_body
from analytics_worker.genesys.errors import (
    GenesysBadRequest,
    GenesysPermissionError,
    GenesysProtocolError,
)
from analytics_worker.normalize import CORE_FIELDS, BucketAccumulator, aggregate_bucket_values
from analytics_worker.reports import ReportSpec
from analytics_worker.sources import aggregate_buckets
from analytics_worker.timebuckets import bucket_floor
from genesys_sim import org, state
from genesys_sim.graphql_api import _conversation_item
from tests.analytics_worker.helpers import query_args

pytestmark = pytest.mark.usefixtures("fake_genesys")
API = "http://genesys.test"
URL = f"{API}/api/v2/analytics/conversations/aggregates/query"
DAY = datetime(2024, 5, 1, tzinfo=UTC)
Q1, Q2 = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
METRICS = ["nOffered", "tAnswered", "tAbandon", "tTalk", "tHeld", "tAcw", "tHandle", "nOverSla"]


def bodies(mock: responses.RequestsMock) -> list[dict[str, Any]]:
    return [orjson.loads(c.request.body) for c in mock.calls if c.request.url == URL]


def spec_of(**fields: Any) -> ReportSpec:
    return ReportSpec(**{"start": DAY, "end": DAY + timedelta(days=1), **fields})


def predicate(dimension: str, value: str) -> dict[str, str]:
    return {"type": "dimension", "dimension": dimension, "operator": "matches", "value": value}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, {}),
        (
            {"media_types": ("voice",)},
            {"filter": {"type": "and", "predicates": [predicate("mediaType", "voice")]}},
        ),
        (
            {"directions": ("outbound",), "queue_ids": (Q1,)},
            {
                "filter": {
                    "type": "and",
                    "predicates": [
                        predicate("originatingDirection", "outbound"),
                        predicate("queueId", Q1),
                    ],
                }
            },
        ),
        (
            {"queue_ids": (Q1, Q2)},
            {
                "filter": {
                    "type": "and",
                    "clauses": [
                        {
                            "type": "or",
                            "predicates": [predicate("queueId", Q1), predicate("queueId", Q2)],
                        }
                    ],
                }
            },
        ),
        (
            {
                "media_types": ("chat", "email"),
                "directions": ("inbound",),
                "queue_ids": (Q1, Q2),
            },
            {
                "filter": {
                    "type": "and",
                    "predicates": [predicate("originatingDirection", "inbound")],
                    "clauses": [
                        {
                            "type": "or",
                            "predicates": [
                                predicate("mediaType", "chat"),
                                predicate("mediaType", "email"),
                            ],
                        },
                        {
                            "type": "or",
                            "predicates": [predicate("queueId", Q1), predicate("queueId", Q2)],
                        },
                    ],
                }
            },
        ),
    ],
)
def test_it_sends_the_reference_query_shape(api, filters, expected):
    api.post(URL, json={"results": []})
    spec = spec_of(granularity="PT1H", time_zone="Europe/London", **filters)
    assert list(aggregate_buckets(spec=spec)) == []
    assert bodies(api) == [
        {
            "interval": "2024-05-01T00:00:00.000Z/2024-05-02T00:00:00.000Z",
            "granularity": "PT1H",
            "timeZone": "Europe/London",
            "metrics": METRICS,
            **expected,
        }
    ]


def choices(dimension: str, one: str, two: tuple[str, str]) -> dict[tuple[str, ...], tuple]:
    """A dimension's selections -> (predicates, clauses) in the reference's shape."""
    return {
        (): ([], []),
        (one,): ([predicate(dimension, one)], []),
        two: ([], [{"type": "or", "predicates": [predicate(dimension, v) for v in two]}]),
    }


MEDIA = choices("mediaType", "voice", ("chat", "email"))
DIRECTION = choices("originatingDirection", "inbound", ("inbound", "outbound"))
QUEUE = choices("queueId", Q1, (Q1, Q2))


def shaped(*parts: tuple[list, list]) -> dict[str, Any] | None:
    predicates = [p for found, _ in parts for p in found]
    clauses = [c for _, found in parts for c in found]
    if not predicates and not clauses:
        return None
    return (
        {"type": "and"}
        | ({"predicates": predicates} if predicates else {})
        | ({"clauses": clauses} if clauses else {})
    )


@pytest.mark.parametrize(
    ("media_types", "directions", "queue_ids"), list(product(MEDIA, DIRECTION, QUEUE))
)
def test_every_filter_combination_has_the_reference_shape(media_types, directions, queue_ids):
    spec = spec_of(media_types=media_types, directions=directions, queue_ids=queue_ids)
    media, direction, queue = MEDIA[media_types], DIRECTION[directions], QUEUE[queue_ids]

    aggregates = aggregates_query_body(**query_args(spec, "granularity", "time_zone"))
    assert aggregates.get("filter") == shaped(media, direction, queue)
    details = details_query_body(**query_args(spec), page_number=1, page_size=100)
    conversation_filter, segment_filter = shaped(direction), shaped(media, queue)
    assert details.get("conversationFilters") == (conversation_filter and [conversation_filter])
    assert details.get("segmentFilters") == (segment_filter and [segment_filter])


def test_a_breakdown_asks_for_group_by_and_keeps_the_groups(api):
    group = {"queueId": Q1, "mediaType": "voice"}
    data = [{"interval": "2024-05-01T09:00:00.000Z/2024-05-01T09:30:00.000Z", "metrics": []}]
    api.post(URL, json={"results": [{"group": group, "data": data}]})
    args = query_args(spec_of(), "granularity", "time_zone")
    rows = aggregates_query(**args, group_by=("queueId",))
    assert bodies(api)[0]["groupBy"] == ["queueId"]
    assert [(row.group, row.start) for row in rows] == [
        (group, datetime(2024, 5, 1, 9, tzinfo=UTC))
    ]


def test_it_maps_the_reference_sample_stats_to_bucket_fields():
    # The official sample: MyPureCloud/quick-hits-python,
    # analytics/analytics-conversation-aggregate-query/results.json.
    values = aggregate_bucket_values(
        metric_stats(
            [
                {"metric": "nOffered", "stats": {"count": 12}},
                {
                    "metric": "tAnswered",
                    "stats": {"max": 41000, "min": 2000, "count": 11, "sum": 140000},
                },
                {
                    "metric": "tTalk",
                    "stats": {"max": 900000, "min": 30000, "count": 11, "sum": 3300000},
                },
                {
                    "metric": "oServiceLevel",
                    "stats": {"ratio": 0.9167, "numerator": 11, "denominator": 12, "target": 0.8},
                },
            ]
        )
    )
    assert values == {
        "conversations": 12,
        "offered": 12,
        "answered": 11,
        "abandoned": 0,
        "answered_in_sl": 11,
        "answer_sum": 140.0,
        "wait_sum": 140.0,
        "wait_count": 11,
        "hold_sum": 0.0,
        "hold_count": 11,
        "handle_sum": 0.0,
        "handle_count": 0,
        "talk_sum": 3300.0,
        "acw_sum": 0.0,
        "duration_sum": 3440.0,
        "duration_count": 11,
    }


def test_abandons_holds_and_the_service_level_count():
    values = aggregate_bucket_values(
        metric_stats(
            [
                {"metric": "nOffered", "stats": {"count": 10}},
                {"metric": "tAnswered", "stats": {"count": 8, "sum": 80000}},
                {"metric": "tAbandon", "stats": {"count": 2, "sum": 90000}},
                {"metric": "tHeld", "stats": {"count": 3, "sum": 45000}},
                {"metric": "tAcw", "stats": {"count": 8, "sum": 16000}},
                {"metric": "tHandle", "stats": {"count": 8, "sum": 500000}},
                {"metric": "nOverSla", "stats": {"count": 3}},
            ]
        )
    )
    assert (values["answered_in_sl"], values["abandoned"]) == (5, 2)
    assert (values["wait_sum"], values["wait_count"]) == (170.0, 10)
    assert (values["hold_sum"], values["hold_count"]) == (45.0, 8)
    assert (values["handle_sum"], values["handle_count"], values["acw_sum"]) == (500.0, 8, 16.0)


def test_it_sums_the_groups_of_a_bucket_and_reads_any_offset(api):
    def result(media: str, interval: str, count: int) -> dict[str, Any]:
        stats = {"metric": "nOffered", "stats": {"count": count}}
        return {"group": {"mediaType": media}, "data": [{"interval": interval, "metrics": [stats]}]}

    api.post(
        URL,
        json={
            "results": [
                result("voice", "2024-05-01T10:00:00.000+01:00/2024-05-01T11:00:00.000+01:00", 3),
                result("chat", "2024-05-01T09:00:00.000Z/2024-05-01T10:00:00.000Z", 4),
                result("chat", "2024-05-01T08:00:00.000Z/2024-05-01T09:00:00.000Z", 1),
            ]
        },
    )
    found = [(start, v["conversations"]) for start, v in aggregate_buckets(spec=spec_of())]
    assert found == [
        (datetime(2024, 5, 1, 8, tzinfo=UTC), 1),
        (datetime(2024, 5, 1, 9, tzinfo=UTC), 7),
    ]


def test_a_long_range_is_one_request_per_week_cut_on_local_midnights(api):
    api.post(URL, json={"results": []})
    spec = ReportSpec(
        start=datetime(2024, 3, 1, tzinfo=UTC),
        end=datetime(2024, 3, 31, 23, tzinfo=UTC),  # 1 April, London (BST) midnight
        granularity="P1D",
        time_zone="Europe/London",
    )
    list(aggregate_buckets(spec=spec))
    assert [b["interval"] for b in bodies(api)] == [
        "2024-03-01T00:00:00.000Z/2024-03-08T00:00:00.000Z",
        "2024-03-08T00:00:00.000Z/2024-03-15T00:00:00.000Z",
        "2024-03-15T00:00:00.000Z/2024-03-22T00:00:00.000Z",
        "2024-03-22T00:00:00.000Z/2024-03-29T00:00:00.000Z",
        "2024-03-29T00:00:00.000Z/2024-03-31T23:00:00.000Z",
    ]


def test_a_missing_permission_is_named(api):
    api.post(
        URL,
        status=403,
        json={
            "message": "Unable to perform the requested action. You must have at least one of the "
            "following permissions assigned: [analytics:conversationAggregate:view]",
            "code": "missing.any.permissions",
            "status": 403,
            "contextId": "ctx-3",
            "details": [],
            "errors": [],
        },
    )
    with pytest.raises(GenesysPermissionError, match="analytics:conversationAggregate:view"):
        list(aggregate_buckets(spec=spec_of()))
    assert len(bodies(api)) == 1  # never retried


def test_a_bad_field_is_named(api):
    api.post(
        URL,
        status=400,
        json={
            "message": "Invalid granularity: PT7M",
            "code": "bad.request",
            "status": 400,
            "messageWithParams": "Invalid {field}: {value}",
            "messageParams": {"field": "granularity", "value": "PT7M"},
        },
    )
    with pytest.raises(GenesysBadRequest, match="Invalid granularity: PT7M"):
        list(aggregate_buckets(spec=spec_of()))


def test_a_view_cannot_be_applied_and_nonsense_is_a_protocol_error(api):
    with pytest.raises(GenesysBadRequest, match="no views"):
        list(aggregate_buckets(spec=spec_of(view_id="view-sales")))
    assert bodies(api) == []
    api.post(URL, json={"results": [{"group": {}, "data": [{"interval": "soon"}]}]})
    with pytest.raises(GenesysProtocolError, match="interval"):
        list(aggregate_buckets(spec=spec_of()))


# --- Against the simulated org: the three sources agree -------------------------------------------


Buckets = dict[datetime, dict[str, float]]


def conversations_of(spec: ReportSpec) -> Iterable[org.Conversation]:
    return org.iter_conversations(
        start=spec.start,
        end=spec.end,
        media_types=spec.media_types,
        directions=spec.directions,
        queue_ids=spec.queue_ids,
    )


def bucket_of(spec: ReportSpec, start_time: str) -> datetime:
    moment = datetime.fromisoformat(start_time)
    return bucket_floor(moment, tz=spec.tz, minutes=spec.bucket_minutes)


def graphql_buckets(spec: ReportSpec) -> Buckets:
    """Counts and sums of the GraphQL contract's items, each in the bucket of its start."""
    buckets: Buckets = defaultdict(lambda: defaultdict(float))
    for conversation in conversations_of(spec):
        item = _conversation_item(conversation)
        bucket = buckets[bucket_of(spec, item["startTime"])]
        bucket["conversations"] += 1
        for name, field in (("duration", "duration"), ("waitTime", "wait"), ("holdTime", "hold")):
            if item["metrics"][name] is not None:
                bucket[f"{field}_sum"] += item["metrics"][name]
                bucket[f"{field}_count"] += 1
    return buckets


def details_buckets(spec: ReportSpec, records: list[dict[str, Any]]) -> Buckets:
    """The contact-centre KPIs of the details source's records, each in the bucket of its start."""
    buckets: Buckets = defaultdict(lambda: defaultdict(float))
    for record in records:
        bucket = buckets[bucket_of(spec, record["startTime"])]
        for flag, field in (
            ("offered", "offered"),
            ("answered", "answered"),
            ("abandoned", "abandoned"),
            ("answeredInSl", "answered_in_sl"),
        ):
            bucket[field] += record[flag]
        for name, field in (
            ("talkTime", "talk_sum"),
            ("acwTime", "acw_sum"),
            ("handleTime", "handle_sum"),
        ):
            bucket[field] += record[name] or 0
        bucket["handle_count"] += record["handleTime"] is not None
    return buckets


def assert_buckets_match(found: Buckets, expected: Buckets) -> None:
    assert sorted(found) == sorted(expected)
    for start, values in expected.items():
        for field, value in values.items():
            assert found[start][field] == pytest.approx(value, rel=1e-12), (start, field)


@pytest.mark.parametrize(
    ("spec", "buckets"),
    [
        (spec_of(granularity="PT30M"), 48),
        # 27 October 2024, London: 25 hours, the clocks go back at 02:00 BST.
        (
            spec_of(
                start=datetime(2024, 10, 26, 23, tzinfo=UTC),
                end=datetime(2024, 10, 28, 0, tzinfo=UTC),
                granularity="PT1H",
                time_zone="Europe/London",
            ),
            25,
        ),
    ],
    ids=["PT30M-UTC", "PT1H-London-DST"],
)
def test_aggregates_details_and_graphql_agree_bucket_by_bucket(sim, spec, buckets):
    aggregated = dict(aggregate_buckets(spec=spec))
    expected = graphql_buckets(spec)
    assert len(expected) == buckets
    assert_buckets_match(aggregated, expected)
    records = [r for page in details_conversation_pages(**query_args(spec)) for r in page]
    assert_buckets_match(aggregated, details_buckets(spec, records))
    assert sum(v["conversations"] for v in aggregated.values()) > 1000

    # The normaliser takes both REST sources as they come, and makes the same buckets of them.
    from_aggregates, from_details = BucketAccumulator(spec), BucketAccumulator(spec)
    for start, values in aggregated.items():
        from_aggregates.add_bucket_values(start, values)
    from_details.add_conversations(records)
    assert from_details.skipped == 0
    core = [{k: b[k] for k in ("start", *CORE_FIELDS)} for b in from_details.result()]
    assert [{k: b[k] for k in ("start", *CORE_FIELDS)} for b in from_aggregates.result()] == core


def test_the_sim_reads_every_filter_combination_as_the_report_means_it(
    client, settings, monkeypatch
):
    """The bodies of both sources, for every combination, select in the simulated org exactly
    the conversations the report's filters mean (in-process, through Django's test client)."""
    settings.ROOT_URLCONF = "tests.genesys_sim.urls"
    server = fakeredis.FakeRedis()
    monkeypatch.setattr(state, "redis_client", lambda: server)
    token = client.post(
        "/sim/oauth/token",
        {
            "grant_type": "client_credentials",
            "client_id": "sim-client",
            "client_secret": "sim-secret",
        },
    ).json()["access_token"]

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = client.post(
            f"/sim/api/v2/analytics/conversations/{path}",
            body,
            content_type="application/json",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.content
        return response.json()

    for media_types, directions, queue_ids in product(MEDIA, DIRECTION, QUEUE):
        spec = spec_of(
            start=DAY + timedelta(hours=9),
            end=DAY + timedelta(hours=11),
            media_types=media_types,
            directions=directions,
            queue_ids=queue_ids,
        )
        expected = sum(1 for _ in conversations_of(spec))
        window = query_args(spec)
        aggregated = post(
            "aggregates/query",
            aggregates_query_body(**window, granularity=spec.granularity, time_zone="UTC"),
        )
        offered = sum(
            metric["stats"]["count"]
            for result in aggregated["results"]
            for item in result["data"]
            for metric in item["metrics"]
            if metric["metric"] == "nOffered"
        )
        detailed = post("details/query", details_query_body(**window, page_number=1, page_size=1))
        assert offered == detailed["totalHits"] == expected, spec
