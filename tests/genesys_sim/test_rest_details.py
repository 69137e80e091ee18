"""POST /sim/api/v2/analytics/conversations/details/query: the documented body, paging and caps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from genesys_sim import org, rest_api

URL = "/sim/api/v2/analytics/conversations/details/query"
HOUR = "2024-05-01T09:00:00.000Z/2024-05-01T10:00:00.000Z"
START, END = datetime(2024, 5, 1, 9, tzinfo=UTC), datetime(2024, 5, 1, 10, tzinfo=UTC)
SALES, SUPPORT = org.SALES_ID, org.SUPPORT_ID


@pytest.fixture
def details(client, token):
    def post(body: dict[str, Any] | bytes, **headers: str):
        return client.post(
            URL,
            body,
            content_type="application/json",
            headers={"Authorization": f"Bearer {token}", **headers},
        )

    return post


def paged(size: int, number: int, **query: Any) -> dict[str, Any]:
    return {"interval": HOUR, "paging": {"pageSize": size, "pageNumber": number}, **query}


def all_pages(details, **query: Any) -> list[dict]:
    conversations, number = [], 1
    while True:
        response = details(paged(50, number, **query))
        assert response.status_code == 200, response.content
        body = response.json()
        if "conversations" not in body:
            assert body["totalHits"] == len(conversations)
            return conversations
        conversations += body["conversations"]
        number += 1


def bad_request(response) -> dict:
    assert response.status_code == 400, response.content
    body = response.json()
    assert (body["code"], body["status"]) == ("bad.request", 400)
    assert response["ININ-Correlation-Id"] == body["contextId"]
    return body


def test_it_pages_in_start_order_until_a_page_without_conversations(details):
    conversations = all_pages(details)
    expected = [c.id for c in org.iter_conversations(start=START, end=END)]
    assert [c["conversationId"] for c in conversations] == expected
    starts = [c["conversationStart"] for c in conversations]
    assert starts == sorted(starts) and starts[0] >= "2024-05-01T09:00:00.000Z"


def test_a_deep_page_starts_exactly_where_the_one_before_ended(details):
    ids = [c.id for c in org.iter_conversations(start=START, end=END)]
    page = details(paged(7, 4)).json()["conversations"]
    assert [c["conversationId"] for c in page] == ids[21:28]


def test_the_default_page_size_is_25(details):
    body = details({"interval": HOUR}).json()
    assert len(body["conversations"]) == 25
    assert body["totalHits"] == org.count_conversations(start=START, end=END)


def test_a_conversation_has_the_documented_shape(details):
    conversation = details(paged(100, 1)).json()["conversations"]

    def purposes(c: dict) -> list[str]:
        return [p["purpose"] for p in c["participants"]]

    answered = next(c for c in conversation if purposes(c) == ["customer", "acd", "agent"])
    # The customer hung up in queue (a flow-out would leave by a transfer to a flow).
    abandoned = next(
        c
        for c in conversation
        if purposes(c) == ["customer", "acd"]
        and c["participants"][1]["sessions"][0]["segments"][0]["disconnectType"] == "peer"
    )
    known = next(
        c
        for c in org.iter_conversations(start=START, end=END)
        if c.id == answered["conversationId"]
    )
    customer, queue, agent = answered["participants"]
    assert (customer["purpose"], customer["participantId"]) == ("customer", known.customer_id)
    assert (queue["purpose"], queue["participantName"]) == (
        "acd",
        org.QUEUES_BY_ID[known.queue_id].name,
    )
    assert (agent["purpose"], agent["userId"]) == ("agent", known.agent_id)
    session = queue["sessions"][0]
    assert session["mediaType"] == known.media_type
    assert session["segments"][0]["queueId"] == known.queue_id
    names = {m["name"]: m["value"] for m in session["metrics"]}
    assert names["nOffered"] == 1 and names["tAcd"] == known.wait_ms and "tAbandon" not in names
    names = {m["name"]: m["value"] for m in agent["sessions"][0]["metrics"]}
    assert names["tAnswered"] == known.wait_ms
    assert names["tTalkComplete"] == known.talk_ms
    assert names["tHandle"] == known.talk_ms + known.hold_ms + known.acw_ms
    assert answered["originatingDirection"] == known.direction

    metrics = {m["name"] for m in abandoned["participants"][1]["sessions"][0]["metrics"]}
    assert "tAbandon" in metrics and "nOffered" in metrics


def test_it_filters_by_direction_media_type_and_queue(details):
    conversations = all_pages(
        details,
        conversationFilters=[
            {
                "type": "and",
                "predicates": [{"dimension": "originatingDirection", "value": "inbound"}],
            }
        ],
        segmentFilters=[
            {
                "type": "and",
                "predicates": [{"type": "dimension", "dimension": "mediaType", "value": "voice"}],
                "clauses": [
                    {
                        "type": "or",
                        "predicates": [
                            {"dimension": "queueId", "operator": "matches", "value": SALES},
                            {"dimension": "queueId", "value": SUPPORT},
                        ],
                    }
                ],
            }
        ],
    )
    expected = org.iter_conversations(
        start=START,
        end=END,
        directions=["inbound"],
        media_types=["voice"],
        queue_ids=[SALES, SUPPORT],
    )
    assert [c["conversationId"] for c in conversations] == [c.id for c in expected]
    assert conversations


def test_it_refuses_a_page_past_the_100000_result_cap(details):
    assert details(paged(100, 1000)).status_code == 200
    body = bad_request(details(paged(100, 1001)))
    assert body["message"] == "Pagination may not exceed 100000 results."


def test_it_refuses_a_page_size_over_the_cap_naming_the_field(details):
    body = bad_request(details(paged(rest_api.DETAILS_MAX_PAGE_SIZE + 1, 1)))
    assert "paging.pageSize" in body["message"]
    assert body["messageWithParams"].startswith("Invalid {field}")
    assert body["messageParams"]["field"] == "paging.pageSize"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "interval"),
        ({"interval": "yesterday"}, "interval"),
        ({"interval": "2024-05-01T09:00:00/2024-05-01T10:00:00Z"}, "interval"),
        ({"interval": HOUR, "paging": {"pageSize": 10}}, "paging.pageNumber"),
        ({"interval": HOUR, "order": "sideways"}, "order"),
        ({"interval": HOUR, "orderBy": "segmentEnd"}, "orderBy"),
        (
            {
                "interval": HOUR,
                "segmentFilters": [
                    {"type": "and", "predicates": [{"dimension": "wrapUpCode", "value": "u"}]}
                ],
            },
            "segmentFilters[0].predicates[0].dimension",
        ),
        (
            {
                "interval": HOUR,
                "conversationFilters": [
                    {"type": "and", "predicates": [{"dimension": "mediaType", "value": "voice"}]}
                ],
            },
            "conversationFilters[0].predicates[0].dimension",
        ),
        ({"interval": HOUR, "segmentFilters": [{"predicates": []}]}, "segmentFilters[0].type"),
    ],
)
def test_it_refuses_a_bad_query_naming_the_field(details, body, field):
    assert field in bad_request(details(body))["message"]


def test_an_interval_is_at_most_7_days_without_a_filter_and_31_with_one(details):
    eight_days = "2024-05-01T00:00:00Z/2024-05-09T00:00:00Z"
    assert "7 days" in bad_request(details({"interval": eight_days}))["message"]
    voice = [{"type": "and", "predicates": [{"dimension": "mediaType", "value": "voice"}]}]
    assert details({"interval": eight_days, "segmentFilters": voice}).status_code == 200


def test_conversations_that_have_not_started_do_not_exist(details, time_machine):
    now = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
    time_machine.move_to(now, tick=False)
    body = details(paged(100, 1)).json()
    started = list(org.iter_conversations(start=START, end=now))
    # ... and those that just started are not seen yet (org.VISIBILITY_DELAY_*).
    seen = [c for c in started if c.visible_ms <= org.to_ms(now)]
    assert body["totalHits"] == len(seen) < len(started)
    assert all(c["conversationStart"] < "2024-05-01T09:30" for c in body["conversations"])


def test_it_shares_the_front_door_of_the_graphql_endpoint(client, details):
    assert client.post(URL, paged(10, 1), content_type="application/json").status_code == 401
    response = details(paged(10, 1), **{"X-Sim-Fault": "503"})
    assert response.status_code == 503
    assert response.json()["code"] == "service.unavailable"
    assert details(paged(10, 1), **{"X-Sim-Fault": "429:7"})["Retry-After"] == "7"
    assert bad_request(details(b"not json"))["message"] == "The request body must be a JSON object."
