"""The Genesys details source: request bodies, page-number paging, dedupe, the 100,000 cap."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import requests
import responses

from analytics_worker.fetch import report_fetch
from analytics_worker.genesys import details
from analytics_worker.genesys.details import details_conversation_pages, details_record
from analytics_worker.genesys.errors import (
    GenesysBadRequest,
    GenesysPermissionError,
    GenesysProtocolError,
)
from analytics_worker.reports import ReportSpec
from genesys_sim import org, rest_api
from genesys_sim.graphql_api import _conversation_item
from tests.analytics_worker.helpers import query_args

pytestmark = pytest.mark.usefixtures("fake_genesys")
API = "http://genesys.test"
URL = f"{API}/api/v2/analytics/conversations/details/query"
DAY = datetime(2024, 5, 1, tzinfo=UTC)
Q1, Q2 = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"

# The reference's example conversation (Q4), field for field.
EXAMPLE = {
    "conversationId": "c0ffee00-0000-4000-8000-000000000001",
    "conversationStart": "2024-05-01T09:00:00.000Z",
    "conversationEnd": "2024-05-01T09:06:40.000Z",
    "originatingDirection": "inbound",
    "divisionIds": ["d1v00000-0000-4000-8000-000000000000"],
    "mediaStatsMinConversationMos": 4.38,
    "participants": [
        {
            "participantId": "p-cust",
            "purpose": "customer",
            "sessions": [
                {
                    "sessionId": "s-1",
                    "mediaType": "voice",
                    "direction": "inbound",
                    "segments": [
                        {
                            "segmentStart": "2024-05-01T09:00:00.000Z",
                            "segmentEnd": "2024-05-01T09:06:40.000Z",
                            "segmentType": "interact",
                            "disconnectType": "endpoint",
                        }
                    ],
                }
            ],
        },
        {
            "participantId": "p-acd",
            "purpose": "acd",
            "participantName": "Support",
            "sessions": [
                {
                    "sessionId": "s-2",
                    "mediaType": "voice",
                    "direction": "inbound",
                    "metrics": [
                        {"name": "nOffered", "value": 1, "emitDate": "2024-05-01T09:00:05.000Z"},
                        {"name": "tAcd", "value": 25000, "emitDate": "2024-05-01T09:00:30.000Z"},
                    ],
                    "segments": [
                        {
                            "segmentStart": "2024-05-01T09:00:05.000Z",
                            "segmentEnd": "2024-05-01T09:00:30.000Z",
                            "segmentType": "interact",
                            "queueId": Q1,
                            "disconnectType": "transfer",
                        }
                    ],
                }
            ],
        },
        {
            "participantId": "p-agent",
            "purpose": "agent",
            "userId": "a9e00000-0000-4000-8000-000000000000",
            "sessions": [
                {
                    "sessionId": "s-3",
                    "mediaType": "voice",
                    "direction": "inbound",
                    "metrics": [
                        {"name": "tAlert", "value": 4000, "emitDate": "2024-05-01T09:00:34.000Z"},
                        {
                            "name": "tAnswered",
                            "value": 29000,
                            "emitDate": "2024-05-01T09:00:34.000Z",
                        },
                        {
                            "name": "tTalkComplete",
                            "value": 300000,
                            "emitDate": "2024-05-01T09:05:34.000Z",
                        },
                        {"name": "tAcw", "value": 30000, "emitDate": "2024-05-01T09:06:40.000Z"},
                        {
                            "name": "tHandle",
                            "value": 330000,
                            "emitDate": "2024-05-01T09:06:40.000Z",
                        },
                    ],
                    "segments": [],
                }
            ],
        },
    ],
}


def bodies(mock: responses.RequestsMock) -> list[dict[str, Any]]:
    return [orjson.loads(c.request.body) for c in mock.calls if c.request.url == URL]


def spec_of(**fields: Any) -> ReportSpec:
    return ReportSpec(**{"start": DAY, "end": DAY + timedelta(days=1), **fields})


def fetch(spec: ReportSpec, **kwargs: Any) -> list[dict[str, Any]]:
    return [r for page in details_conversation_pages(**query_args(spec), **kwargs) for r in page]


def conversation(number: int, start: datetime) -> dict[str, Any]:
    return {
        "conversationId": f"c-{number:05d}",
        "conversationStart": start.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "originatingDirection": "inbound",
        "participants": [],
    }


def serve(mock: responses.RequestsMock, answer: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    def reply(request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        body = answer(orjson.loads(request.body))
        status = body.pop("status", 200)
        return status, {}, orjson.dumps(body)

    mock.add_callback(responses.POST, URL, callback=reply)


def predicate(dimension: str, value: str) -> dict[str, str]:
    return {"type": "dimension", "dimension": dimension, "operator": "matches", "value": value}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, {}),
        (
            {"directions": ("inbound",)},
            {
                "conversationFilters": [
                    {"type": "and", "predicates": [predicate("originatingDirection", "inbound")]}
                ]
            },
        ),
        (
            {"media_types": ("chat", "voice")},
            {
                "segmentFilters": [
                    {
                        "type": "and",
                        "clauses": [
                            {
                                "type": "or",
                                "predicates": [
                                    predicate("mediaType", "chat"),
                                    predicate("mediaType", "voice"),
                                ],
                            }
                        ],
                    }
                ]
            },
        ),
        (
            {"queue_ids": (Q1,)},
            {"segmentFilters": [{"type": "and", "predicates": [predicate("queueId", Q1)]}]},
        ),
        (
            {
                "media_types": ("voice",),
                "directions": ("inbound", "outbound"),
                "queue_ids": (Q1, Q2),
            },
            {
                "conversationFilters": [
                    {
                        "type": "and",
                        "clauses": [
                            {
                                "type": "or",
                                "predicates": [
                                    predicate("originatingDirection", "inbound"),
                                    predicate("originatingDirection", "outbound"),
                                ],
                            }
                        ],
                    }
                ],
                "segmentFilters": [
                    {
                        "type": "and",
                        "predicates": [predicate("mediaType", "voice")],
                        "clauses": [
                            {
                                "type": "or",
                                "predicates": [predicate("queueId", Q1), predicate("queueId", Q2)],
                            }
                        ],
                    }
                ],
            },
        ),
    ],
)
def test_it_sends_the_reference_query_shape(api, filters, expected):
    api.post(URL, json={"totalHits": 0})
    assert fetch(spec_of(**filters)) == []
    assert bodies(api) == [
        {
            "interval": "2024-05-01T00:00:00.000Z/2024-05-02T00:00:00.000Z",
            "order": "asc",
            "orderBy": "conversationStart",
            "paging": {"pageSize": 100, "pageNumber": 1},
            **expected,
        }
    ]


def test_it_reduces_a_conversation_to_the_graphql_shape_with_its_metrics():
    assert details_record(EXAMPLE) == {
        "id": "c0ffee00-0000-4000-8000-000000000001",
        "type": "voice",
        "direction": "inbound",
        "startTime": "2024-05-01T09:00:00.000Z",
        "endTime": "2024-05-01T09:06:40.000Z",
        # Time in queue is tAcd (25 s); tAnswered (29 s) adds the 4 s the agent's phone rang.
        "metrics": {"duration": 400.0, "waitTime": 25.0, "holdTime": 0.0},
        "participants": [
            {"id": "p-cust", "type": "customer"},
            {"id": "a9e00000-0000-4000-8000-000000000000", "type": "agent"},
        ],
        "queueIds": [Q1],
        # Each metric's count and sum over every session; tTalkComplete is the session's tTalk.
        "metricStats": {
            "nOffered": {"count": 1, "sum": 1},
            "tAcd": {"count": 1, "sum": 25000},
            "tAlert": {"count": 1, "sum": 4000},
            "tAnswered": {"count": 1, "sum": 29000},
            "tTalk": {"count": 1, "sum": 300000},
            "tAcw": {"count": 1, "sum": 30000},
            "tHandle": {"count": 1, "sum": 330000},
        },
    }


def test_it_counts_each_hold_and_each_queue_of_a_transfer():
    agent = EXAMPLE["participants"][2]
    holds = [
        {"name": "tHeld", "value": 20000, "emitDate": "2024-05-01T09:02:00.000Z"},
        {"name": "tHeld", "value": 10000, "emitDate": "2024-05-01T09:04:00.000Z"},
        {"name": "tHeldComplete", "value": 30000, "emitDate": "2024-05-01T09:05:34.000Z"},
        {"name": "nTransferred", "value": 1, "emitDate": "2024-05-01T09:05:34.000Z"},
    ]
    second_queue = {
        **EXAMPLE["participants"][1],
        "sessions": [
            {
                **EXAMPLE["participants"][1]["sessions"][0],
                "segments": [
                    {**EXAMPLE["participants"][1]["sessions"][0]["segments"][0], "queueId": Q2}
                ],
            }
        ],
    }
    transferred = {
        **EXAMPLE,
        "participants": [
            *EXAMPLE["participants"][:2],
            {
                **agent,
                "sessions": [
                    {**agent["sessions"][0], "metrics": agent["sessions"][0]["metrics"] + holds}
                ],
            },
            second_queue,
        ],
    }
    record = details_record(transferred)
    assert record["queueIds"] == [Q1, Q2]
    assert record["metricStats"]["nOffered"] == {"count": 2, "sum": 2}  # offered in both queues
    assert record["metricStats"]["tHeld"] == {"count": 2, "sum": 30000}  # two holds, not one
    assert record["metricStats"]["nTransferred"]["count"] == 1
    assert record["metrics"]["holdTime"] == 30.0


def test_a_conversation_still_going_on_has_no_end_or_duration():
    ongoing = {**EXAMPLE, "conversationEnd": None, "participants": EXAMPLE["participants"][:2]}
    record = details_record(ongoing)
    # Its time in queue is over (tAcd was emitted); its duration is not known yet.
    assert (record["endTime"], record["metrics"]) == (
        None,
        {"duration": None, "waitTime": 25.0, "holdTime": None},
    )
    assert "tAnswered" not in record["metricStats"] and "nOffered" in record["metricStats"]


def test_it_pages_until_a_page_without_conversations_and_counts_a_shifted_one_once(api):
    starts = [DAY + timedelta(minutes=n) for n in range(100)]
    pages = [list(range(n, n + 10)) for n in range(0, 40, 10)]
    # A late conversation arrived after page 4: everything moved down one place, so page 5
    # starts with the last conversation of page 4.
    pages += [list(range(n - 1, min(n + 9, 100))) for n in range(40, 100, 10)] + [[99]]

    def answer(body: dict[str, Any]) -> dict[str, Any]:
        number = body["paging"]["pageNumber"]
        page = pages[number - 1] if number <= len(pages) else []
        found: dict[str, Any] = {"totalHits": 101}
        if page:
            found["conversations"] = [conversation(n, starts[n]) for n in page]
        return found

    serve(api, answer)
    records = fetch(spec_of())
    assert [r["id"] for r in records] == [f"c-{n:05d}" for n in range(100)]
    sent = bodies(api)
    assert [b["paging"]["pageNumber"] for b in sent] == list(range(1, 13))
    assert all(
        b["paging"]["pageSize"] == 100 and b["interval"] == sent[0]["interval"] for b in sent
    )


def test_it_keeps_only_conversations_that_start_in_the_interval(api):
    # Genesys searches every day the interval touches, so it may answer with more.
    before, inside = DAY - timedelta(minutes=5), DAY + timedelta(hours=2)
    serve(
        api,
        lambda body: (
            {"totalHits": 2, "conversations": [conversation(1, before), conversation(2, inside)]}
            if body["paging"]["pageNumber"] == 1
            else {"totalHits": 2}
        ),
    )
    assert [r["id"] for r in fetch(spec_of(start=DAY, end=DAY + timedelta(hours=6)))] == ["c-00002"]


def fake_details_api(
    conversations: list[dict[str, Any]], *, cap: int, whole_days: bool = False
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Genesys paging in start order with its cap. whole_days: the interval selects whole days,
    as the detail-query guide says Genesys does."""

    def answer(body: dict[str, Any]) -> dict[str, Any]:
        size, number = body["paging"]["pageSize"], body["paging"]["pageNumber"]
        if size * number > cap:
            return {"status": 400, "message": "Pagination may not exceed 100000 results."}
        begin, end = (datetime.fromisoformat(t) for t in body["interval"].split("/"))
        if whole_days:
            begin = begin.replace(hour=0, minute=0, second=0, microsecond=0)
        found = [
            c
            for c in conversations
            if begin <= datetime.fromisoformat(c["conversationStart"]) < end
        ]
        page = found[(number - 1) * size : number * size]
        return {"totalHits": len(found), **({"conversations": page} if page else {})}

    return answer


def test_it_starts_a_new_interval_before_the_result_cap(api, monkeypatch):
    monkeypatch.setattr(details, "PAGINATION_CAP", 30)
    # Two conversations share each start, so the cut falls between two of the same instant.
    served = [conversation(n, DAY + timedelta(seconds=n // 2)) for n in range(75)]
    serve(api, fake_details_api(served, cap=30))
    records = fetch(spec_of(), page_size=10)
    assert [r["id"] for r in records] == [c["conversationId"] for c in served]
    intervals = [b["interval"].split("/")[0] for b in bodies(api) if b["paging"]["pageNumber"] == 1]
    # Pages 1-3 served conversations 0-29 (the last at 14 s): the next interval starts there.
    assert intervals[:2] == ["2024-05-01T00:00:00.000Z", "2024-05-01T00:00:14.000Z"]


def test_it_stops_with_a_clear_error_rather_than_hit_the_cap_or_truncate(api, monkeypatch):
    monkeypatch.setattr(details, "PAGINATION_CAP", 30)
    served = [conversation(n, DAY + timedelta(seconds=n)) for n in range(75)]
    serve(api, fake_details_api(served, cap=30, whole_days=True))
    with pytest.raises(GenesysProtocolError) as caught:
        fetch(spec_of(), page_size=10)
    assert "cannot page past 30 results" in str(caught.value)
    assert "aggregates" in str(caught.value)


def test_it_splits_long_ranges_at_utc_midnights_into_7_days_at_most(api):
    api.post(URL, json={"totalHits": 0})
    spec = spec_of(start=DAY + timedelta(hours=6), end=DAY + timedelta(days=10, hours=6))
    fetch(spec)
    assert [b["interval"] for b in bodies(api)] == [
        "2024-05-01T06:00:00.000Z/2024-05-08T00:00:00.000Z",
        "2024-05-08T00:00:00.000Z/2024-05-11T06:00:00.000Z",
    ]


def test_a_report_with_a_view_sends_nothing(api):
    with pytest.raises(GenesysBadRequest, match="no views"):
        report_fetch(spec=spec_of(view_id="view-sales", source="details"))
    assert bodies(api) == []


def test_a_missing_permission_is_named(api):
    api.post(
        URL,
        status=403,
        json={
            "message": "Unable to perform the requested action. You must have at least one of the "
            "following permissions assigned: [analytics:conversationDetail:view, "
            "analytics:agentConversationDetail:view]",
            "code": "missing.any.permissions",
            "status": 403,
            "contextId": "ctx-1",
            "details": [],
            "errors": [],
        },
    )
    with pytest.raises(GenesysPermissionError) as caught:
        fetch(spec_of())
    assert "analytics:conversationDetail:view" in str(caught.value)
    assert (caught.value.code, caught.value.context_id) == ("missing.any.permissions", "ctx-1")
    assert len(bodies(api)) == 1  # never retried


def test_a_bad_field_is_named(api):
    api.post(
        URL,
        status=400,
        json={
            "code": "bad.request",
            "status": 400,
            "messageWithParams": "Invalid value for {field}",
            "messageParams": {"field": "paging.pageSize"},
            "contextId": "ctx-2",
        },
    )
    with pytest.raises(GenesysBadRequest, match=r"Invalid value for paging\.pageSize"):
        fetch(spec_of())


# --- Against the simulated org --------------------------------------------------------------------


def test_it_yields_what_the_graphql_contract_serves_for_the_same_day(sim):
    records = fetch(spec_of())
    expected = [
        _conversation_item(c)
        for c in org.iter_conversations(start=DAY, end=DAY + timedelta(days=1))
    ]
    assert len(records) == len(expected) > 1000
    assert [{k: r[k] for k in expected[0]} for r in records] == expected
    answered = [r["metricStats"] for r in records if "tAnswered" in r["metricStats"]]
    assert all(s["tTalk"]["sum"] > 0 and s["tHandle"]["sum"] >= s["tTalk"]["sum"] for s in answered)
    assert {q for r in records for q in r["queueIds"]} == {q.id for q in org.QUEUES}
    # Direct and internal calls and agent outbound without a queue are conversations too.
    assert any(not r["queueIds"] for r in records)


def test_against_the_sim_the_cap_is_never_hit(sim, monkeypatch):
    monkeypatch.setattr(details, "PAGINATION_CAP", 300)
    monkeypatch.setattr(rest_api, "PAGINATION_CAP", 300)
    records = fetch(spec_of(), page_size=50)
    ids = [c.id for c in org.iter_conversations(start=DAY, end=DAY + timedelta(days=1))]
    assert [r["id"] for r in records] == ids
    assert set(sim.stats_read()["by_status"]) == {"200"}
