from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core import signing

from genesys_sim import org
from tests.genesys_sim.helpers import conversations_variables

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
DAY = datetime(2024, 5, 1, tzinfo=UTC)


def page_of(response) -> dict:
    assert response.status_code == 200, response.content
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["conversations"]


def error_of(response) -> str:
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["errors"], body
    return body["errors"][0]["message"]


def fetch_all(graphql, variables: dict) -> list[dict]:
    items, token = [], None
    while True:
        page = page_of(graphql({**variables, "pageToken": token}))
        items += page["items"]
        token = page["pageToken"]
        if token is None:
            return items


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_it_answers_the_tutorials_query_with_well_formed_conversations(graphql):
    page = page_of(graphql(conversations_variables(viewId="all", filter=[])))
    assert page["pageSize"] == 100
    assert page["totalCount"] > 100
    assert len(page["items"]) == 100 and page["pageToken"]
    for item in page["items"]:
        assert item["type"] in org.MEDIA_TYPES and item["direction"] in org.DIRECTIONS
        assert ISO_MS.match(item["startTime"]) and ISO_MS.match(item["endTime"])
        start = datetime.fromisoformat(item["startTime"])
        end = datetime.fromisoformat(item["endTime"])
        assert DAY + timedelta(hours=9) <= start < DAY + timedelta(hours=10)
        metrics = item["metrics"]
        assert metrics["duration"] == pytest.approx((end - start).total_seconds())
        assert metrics["waitTime"] is None or metrics["waitTime"] >= 0  # None: met no queue
        types = [p["type"] for p in item["participants"]]
        if metrics["holdTime"] is None:  # no agent had it: no hold
            assert types == ["customer"] and metrics["waitTime"] is not None
        else:
            assert types in (["customer", "agent"], ["customer", "agent", "agent"])
            assert {p["id"] for p in item["participants"][1:]} <= set(org.AGENT_IDS)
    starts = [item["startTime"] for item in page["items"]]
    assert starts == sorted(starts)


def test_it_pages_through_a_day_once_each_and_the_same_way_twice(graphql, settings):
    variables = conversations_variables(iso(DAY), iso(DAY + timedelta(days=1)), pageSize=500)
    first_run = fetch_all(graphql, variables)
    ids = [item["id"] for item in first_run]
    expected = [c.id for c in org.iter_conversations(start=DAY, end=DAY + timedelta(days=1))]
    assert ids == expected
    assert len(set(ids)) == len(ids)
    assert [item["id"] for item in fetch_all(graphql, variables)] == ids


def test_it_gives_the_same_day_in_one_query_or_in_24_hourly_ones(graphql):
    day = conversations_variables(iso(DAY), "2024-05-02T02:00:00+02:00", pageSize=500)
    whole_day = [item["id"] for item in fetch_all(graphql, day)]
    hourly = []
    for hour in range(24):
        start = DAY + timedelta(hours=hour)
        hour_vars = conversations_variables(iso(start), iso(start + timedelta(hours=1)))
        hourly += [item["id"] for item in fetch_all(graphql, hour_vars)]
    assert whole_day == hourly


def test_it_counts_the_whole_range_once_and_keeps_the_count_in_the_token(graphql, monkeypatch):
    variables = conversations_variables(pageSize=50)
    first = page_of(graphql(variables))
    expected = org.count_conversations(
        start=DAY + timedelta(hours=9), end=DAY + timedelta(hours=10)
    )
    assert first["totalCount"] == expected

    def no_recount(**kwargs):
        raise AssertionError("a later page must not count the range again")

    monkeypatch.setattr(org, "count_selected", no_recount)
    second = page_of(graphql({**variables, "pageToken": first["pageToken"]}))
    assert second["totalCount"] == expected


def test_it_resumes_a_page_where_the_last_one_stopped(graphql, monkeypatch):
    # A later page generates only the minutes it serves, never the range before them.
    variables = conversations_variables(iso(DAY), iso(DAY + timedelta(days=7)), pageSize=200)
    first = page_of(graphql(variables))
    minutes: list[int] = []
    real_minute = org._minute

    def counting_minute(*args):
        minutes.append(args[2])
        return real_minute(*args)

    monkeypatch.setattr(org, "_minute", counting_minute)
    second = page_of(graphql({**variables, "pageToken": first["pageToken"]}))
    # An id's first group is the minute (since the epoch, in hex) it was made in.
    last_served = int(first["items"][-1]["id"].split("-")[0], 16)
    last_now = int(second["items"][-1]["id"].split("-")[0], 16)
    assert minutes == list(range(last_served, last_now + 1))


def test_it_caps_the_page_size_and_says_so(graphql, settings):
    settings.GENESYS_SIM_MAX_PAGE_SIZE = 10
    page = page_of(graphql(conversations_variables(pageSize=50)))
    assert page["pageSize"] == 10 and len(page["items"]) == 10
    assert "pageSize" in error_of(graphql(conversations_variables(pageSize=0)))


def test_it_filters_by_each_operator(graphql):
    def matching(*filters) -> list[str]:
        variables = conversations_variables(pageSize=500, filter=list(filters))
        return [item["id"] for item in fetch_all(graphql, variables)]

    def expected(**kwargs) -> list[str]:
        return [
            c.id
            for c in org.iter_conversations(
                start=DAY + timedelta(hours=9), end=DAY + timedelta(hours=10), **kwargs
            )
        ]

    voice = {"field": "type", "operator": "eq", "value": "voice"}
    assert matching(voice) == expected(media_types=["voice"])
    # "inbound" < "outbound" as strings
    assert matching({"field": "direction", "operator": "gt", "value": "inbound"}) == expected(
        directions=["outbound"]
    )
    assert matching({"field": "direction", "operator": "lt", "value": "outbound"}) == expected(
        directions=["inbound"]
    )
    assert matching({"field": "queueId", "operator": "contains", "value": "9b03"}) == expected(
        queue_ids=[org.BILLING_ID]
    )
    # The same field twice: either may match. Different fields: both must.
    chat = {"field": "type", "operator": "eq", "value": "chat"}
    assert matching(voice, chat) == expected(media_types=["voice", "chat"])
    outbound = {"field": "direction", "operator": "eq", "value": "outbound"}
    assert matching(voice, outbound) == expected(media_types=["voice"], directions=["outbound"])
    assert matching({"field": "type", "operator": "eq", "value": "fax"}) == []


def test_it_scopes_a_view_to_its_queues(graphql):
    page = page_of(graphql(conversations_variables(viewId="view-sales", pageSize=1)))
    assert page["totalCount"] == org.count_conversations(
        start=DAY + timedelta(hours=9), end=DAY + timedelta(hours=10), queue_ids=[org.SALES_ID]
    )


def test_it_answers_403_for_an_unknown_view(graphql):
    response = graphql(conversations_variables(viewId="view-nope"))
    assert response.status_code == 403
    body = response.json()
    assert set(body) == {"message", "code", "status", "contextId", "details", "errors"}
    assert body["code"] == "not.authorized" and body["status"] == 403
    assert "view-nope" in body["message"]
    assert body["details"] == [] and body["errors"] == []
    assert response["ININ-Correlation-Id"] == body["contextId"]


def test_it_reports_unknown_fields_as_graphql_validation_errors(graphql):
    query = """query Q($query: ConversationQuery) {
      conversations(query: $query) { items { id queueName } } }"""
    message = error_of(graphql(conversations_variables(), query=query))
    assert "queueName" in message
    assert graphql({}, query="{ conversations(").json()["errors"]


def test_it_names_an_unknown_filter_field_or_operator(graphql):
    response = graphql(
        conversations_variables(filter=[{"field": "mood", "operator": "eq", "value": "x"}])
    )
    assert "mood" in error_of(response)
    assert response.json()["data"] == {"conversations": None}
    response = graphql(
        conversations_variables(filter=[{"field": "type", "operator": "like", "value": "v"}])
    )
    assert "like" in error_of(response)


def test_it_names_the_date_field_it_cannot_read(graphql):
    assert "dateRange.begin" in error_of(graphql(conversations_variables(begin="yesterday")))
    assert "dateRange.end" in error_of(graphql(conversations_variables(end="2024-05-01T10:00:00")))
    assert "dateRange.end" in error_of(graphql(conversations_variables(end="2024-04-01T00:00:00Z")))


def test_it_rejects_forged_tokens_and_tokens_from_another_query(graphql):
    variables = conversations_variables(pageSize=10)
    token = page_of(graphql(variables))["pageToken"]
    other = conversations_variables(pageSize=10, viewId="view-sales")
    assert error_of(graphql({**other, "pageToken": token})).startswith("invalid pageToken")
    payload = signing.loads(token, salt="genesys_sim.page_token")
    forged = signing.dumps({**payload, "t": 5}, key="guessed", salt="genesys_sim.page_token")
    assert error_of(graphql({**variables, "pageToken": forged})) == "invalid pageToken"
    assert error_of(graphql({**variables, "pageToken": token[:-2]})) == "invalid pageToken"
    # The page size is not part of the query: a client may change it between pages.
    assert page_of(graphql({**conversations_variables(pageSize=5), "pageToken": token}))


def test_it_answers_null_page_token_on_the_last_page(graphql):
    page = page_of(graphql(conversations_variables(end="2024-05-01T09:01:00Z")))
    assert page["pageToken"] is None and page["totalCount"] == len(page["items"])
    empty = page_of(graphql(conversations_variables(end="2024-05-01T09:00:00Z")))
    assert empty == {"pageToken": None, "pageSize": 100, "totalCount": 0, "items": []}


def test_it_hides_conversations_that_have_not_started_yet(graphql, time_machine):
    time_machine.move_to(DAY + timedelta(hours=9, minutes=30), tick=False)
    page = page_of(graphql(conversations_variables(pageSize=500)))
    assert page["totalCount"] == org.count_conversations(
        start=DAY + timedelta(hours=9), end=DAY + timedelta(hours=9, minutes=30)
    )


def test_it_answers_400_to_a_body_that_is_not_graphql(client, token):
    response = client.post(
        "/sim/api/v2/analytics/graphql",
        "not json",
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "bad.request"


def test_it_gives_no_wait_without_a_queue_and_every_agent_of_a_transfer(graphql):
    variables = conversations_variables(iso(DAY), iso(DAY + timedelta(days=1)), pageSize=500)
    items = {item["id"]: item for item in fetch_all(graphql, variables)}
    for c in org.iter_conversations(start=DAY, end=DAY + timedelta(days=1)):
        item = items[c.id]
        if not c.offered:
            assert item["metrics"]["waitTime"] is None
        else:
            assert item["metrics"]["waitTime"] == pytest.approx(c.wait_ms / 1000)
        assert [p["id"] for p in item["participants"][1:]] == list(c.user_ids)
        if c.answered:
            assert item["metrics"]["holdTime"] == pytest.approx(c.hold_ms / 1000)
    assert any(len(c["participants"]) == 3 for c in items.values())


def test_a_conversation_still_going_on_has_no_end_nor_duration(graphql, time_machine):
    now = DAY + timedelta(hours=9, minutes=30)
    time_machine.move_to(now, tick=False)
    page = page_of(graphql(conversations_variables(end="2024-05-01T09:30:00Z", pageSize=500)))
    live = [i for i in page["items"] if i["endTime"] is None]
    assert live and all(i["metrics"]["duration"] is None for i in live)
    ended = [i for i in page["items"] if i["endTime"] is not None]
    assert ended and all(i["endTime"] <= "2024-05-01T09:30:00.000Z" for i in ended)
    going_on = {
        c.id
        for c in org.iter_conversations(start=DAY + timedelta(hours=9), end=now)
        if c.end_ms > org.to_ms(now)
    }
    assert {i["id"] for i in live} == going_on
