"""The Genesys aggregates source: the client's request bodies and rows, the metric mapping to
bucket fields (normalize), the report layer's chunks and group sums (sources), and agreement with
the details source and the GraphQL contract on the simulated org."""

from __future__ import annotations

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
from analytics_worker.genesys.details import details_query_body
from analytics_worker.genesys.errors import (
    GenesysBadRequest,
    GenesysPermissionError,
    GenesysProtocolError,
)
from analytics_worker.normalize import aggregate_bucket_values
from analytics_worker.reports import ReportSpec
from analytics_worker.sources import aggregate_buckets, aggregate_rows
from genesys_sim import org, state
from tests.analytics_worker.helpers import query_args

pytestmark = pytest.mark.usefixtures("fake_genesys")
API = "http://genesys.test"
URL = f"{API}/api/v2/analytics/conversations/aggregates/query"
DAY = datetime(2024, 5, 1, tzinfo=UTC)
Q1, Q2 = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
METRICS = [
    "nOffered",
    "tAnswered",
    "tAbandon",
    "tShortAbandon",
    "tFlowOut",
    "tWait",
    "nOverSla",
    "oServiceLevel",
    "nTransferred",
    "tTalk",
    "tHeld",
    "tAcw",
    "tHandle",
    "nOutbound",
]
QUEUE_EXISTS = {"type": "dimension", "dimension": "queueId", "operator": "exists"}


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
    # A report asks for queue work only (a queueId must exist, unless queues are picked), split
    # by direction so agent outbound stays apart.
    found = expected.get("filter", {"type": "and"})
    if not spec.queue_ids:
        found = {**found, "predicates": [QUEUE_EXISTS, *found.get("predicates", [])]}
    assert bodies(api) == [
        {
            "interval": "2024-05-01T00:00:00.000Z/2024-05-02T00:00:00.000Z",
            "granularity": "PT1H",
            "timeZone": "Europe/London",
            "metrics": METRICS,
            "groupBy": ["originatingDirection"],
            "filter": found,
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


def test_it_maps_metric_stats_to_bucket_fields():
    # The shapes of a real answer (n* a count, t* count/sum in ms, oServiceLevel the SDK's
    # StatisticalSummary numerator/denominator/target), two entries of tHeld (qualifiers) adding up.
    values = aggregate_bucket_values(
        metric_stats(
            [
                {"metric": "nOffered", "stats": {"count": 12}},
                {"metric": "tAnswered", "stats": {"max": 41000, "count": 10, "sum": 140000}},
                {"metric": "tAbandon", "stats": {"count": 1, "sum": 30000}},
                {"metric": "tShortAbandon", "stats": {"count": 1, "sum": 4000}},
                {"metric": "tFlowOut", "stats": {"count": 1, "sum": 300000}},
                {"metric": "tWait", "stats": {"count": 12, "sum": 470000}},
                {"metric": "tTalk", "stats": {"count": 10, "sum": 3300000}},
                {"metric": "tHeld", "stats": {"count": 2, "sum": 60000}},
                {"metric": "tHeld", "stats": {"count": 1, "sum": 15000}},
                {"metric": "tAcw", "stats": {"count": 10, "sum": 200000}},
                {"metric": "tHandle", "stats": {"count": 10, "sum": 3575000}},
                {"metric": "nTransferred", "stats": {"count": 2}},
                {
                    "metric": "oServiceLevel",
                    "stats": {"ratio": 0.7273, "numerator": 8, "denominator": 11, "target": 0.8},
                },
            ]
        )
    )
    assert values == {
        "conversations": 12,
        "offered": 12,
        "answered": 10,
        "answer_sum": 140.0,
        "abandoned": 1,
        "short_abandoned": 1,
        "flowed_out": 1,
        "transferred": 2,
        "wait_sum": 470.0,
        "wait_count": 12,
        "sl_numerator": 8,
        "sl_denominator": 11,
        "sl_target_sum": pytest.approx(8.8),
        "sl_target_weight": 11,
        "hold_sum": 75.0,
        "hold_count": 3,
        "handle_sum": 3575.0,
        "handle_count": 10,
        "talk_sum": 3300.0,
        "talk_count": 10,
        "acw_sum": 200.0,
        "acw_count": 10,
    }


def test_outbound_work_has_figures_of_its_own():
    stats = {
        "nOutbound": {"count": 4},
        "tTalk": {"count": 4, "sum": 800000},
        "tHandle": {"count": 4, "sum": 1000000},
    }
    values = aggregate_bucket_values(stats, outbound=True)
    assert (values["outbound"], values["outbound_handle_sum"], values["outbound_handle_count"]) == (
        4,
        1000.0,
        4,
    )
    assert "handle_sum" not in values and "talk_sum" not in values and values["offered"] == 0


def test_without_oservicelevel_the_service_level_follows_genesys_formula():
    # The details query has no oServiceLevel: answered in threshold over answered + abandoned.
    values = aggregate_bucket_values(
        {
            "nOffered": {"count": 10},
            "tAnswered": {"count": 8, "sum": 80000},
            "tAbandon": {"count": 2, "sum": 9000},
            "nOverSla": {"count": 3},
        }
    )
    assert (values["sl_numerator"], values["sl_denominator"]) == (5, 10)
    assert (values["wait_sum"], values["wait_count"]) == (89.0, 10)
    assert "sl_target_sum" not in values


def test_an_agents_group_carries_no_wait_or_service_level_of_its_own():
    # groupBy userId: the agent's session emits tAnswered, tTalk, tHandle; the offer, its wait
    # and its SL are in the queue's group (no userId) and must not count twice.
    values = aggregate_bucket_values(
        {
            "tAnswered": {"count": 8, "sum": 80000},
            "tTalk": {"count": 8, "sum": 400000},
            "tHandle": {"count": 8, "sum": 500000},
        }
    )
    assert (values["answered"], values["handle_count"], values["handle_sum"]) == (8, 8, 500.0)
    assert (values["wait_sum"], values["wait_count"]) == (0, 0)
    assert "sl_numerator" not in values and "sl_denominator" not in values


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


def test_a_breakdown_takes_genesys_group_shapes_as_they_come(api):
    # Genesys adds mediaType to every group and answers some without the grouped dimension
    # (a metric that has none): those go to the "" group, and all of it to the report's total.
    def result(group: dict[str, str], count: int) -> dict[str, Any]:
        stats = {"metric": "nOffered", "stats": {"count": count}}
        interval = "2024-05-01T09:00:00.000Z/2024-05-01T10:00:00.000Z"
        return {"group": group, "data": [{"interval": interval, "metrics": [stats]}]}

    api.post(
        URL,
        json={
            "results": [
                result({"mediaType": "voice", "queueId": Q1, "originatingDirection": "inbound"}, 5),
                result({"mediaType": "chat", "queueId": Q1, "originatingDirection": "inbound"}, 2),
                result({"mediaType": "voice", "queueId": Q2}, 3),
                result({"mediaType": "email"}, 1),
            ]
        },
    )
    spec = spec_of(source="aggregates", group="queue", granularity="PT1H")
    [rows] = list(aggregate_rows(spec=spec))
    assert [(r.group, r.media, r.values["offered"]) for r in rows] == [
        (Q1, "voice", 5),
        (Q1, "chat", 2),
        (Q2, "voice", 3),
        ("", "email", 1),
    ]
    [body] = bodies(api)
    # One request for every queue: grouped by direction (outbound apart) and queue.
    assert body["groupBy"] == ["originatingDirection", "queueId"]
    # A media breakdown asks no more than Genesys gives anyway.
    api.replace(responses.POST, URL, json={"results": []})
    list(aggregate_rows(spec=spec_of(source="aggregates", group="media")))
    assert bodies(api)[-1]["groupBy"] == ["originatingDirection"]


def test_nothing_matched_is_zeros_of_what_the_source_gives_not_unknown(api):
    api.post(URL, json={})
    from analytics_worker.fetch import report_fetch

    report = report_fetch(spec=spec_of(source="aggregates", queue_ids=(Q1,)))
    totals = report["totals"]
    # Known to be zero (the page says "no conversations matched"), not missing (which the page
    # would call "not available from this source").
    assert (totals["offered"], totals["answered"], totals["abandoned"]) == (0, 0, 0)
    assert "duration_sum" in totals and totals["duration_count"] == 0


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


# --- Against the simulated org (each KPI against its definition: test_kpis_on_the_sim.py) --------


def conversations_of(spec: ReportSpec) -> Iterable[org.Conversation]:
    return org.iter_conversations(
        start=spec.start,
        end=spec.end,
        media_types=spec.media_types,
        directions=spec.directions,
        queue_ids=spec.queue_ids,
    )


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
        # Every group the aggregates answer holds is one the filters mean.
        for result in aggregated["results"]:
            group = result["group"]
            assert not media_types or group["mediaType"] in media_types, spec
        detailed = post("details/query", details_query_body(**window, page_number=1, page_size=1))
        # The details count conversations by start, as the simulated org's own view does.
        assert detailed["totalHits"] == expected, spec
