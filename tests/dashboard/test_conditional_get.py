"""GET /api/report with If-None-Match: a poll of an unchanged report is a 304 that reads no
payload, and a new result always answers in full."""

from __future__ import annotations

import time
from unittest import mock

import orjson
import pytest
from django.test import Client

from analytics_worker import cache
from tests.dashboard.helpers import DAY_QUERY, CommandLog, put_report, spec_from_query
from tests.helpers import enqueued_jobs

pytestmark = pytest.mark.django_db

URL = "/api/report?" + DAY_QUERY


def test_it_sends_an_etag_the_browser_revalidates(client_alice: Client, enqueued) -> None:
    put_report(spec_from_query(DAY_QUERY))
    response = client_alice.get(URL)
    assert response.status_code == 200
    assert response["ETag"].startswith('W/"')
    # no-cache: kept, but asked again every time; private: never in a shared cache.
    directives = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"no-cache", "private"} <= directives
    assert "no-store" not in directives


def test_it_answers_304_to_the_same_etag_without_reading_the_payload(
    client_alice: Client, enqueued
) -> None:
    put_report(spec_from_query(DAY_QUERY))
    etag = client_alice.get(URL)["ETag"]
    with mock.patch.object(cache, "result_lookup", wraps=cache.result_lookup) as lookup:
        response = client_alice.get(URL, headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == etag
    assert "no-cache" in response["Cache-Control"]
    lookup.assert_not_called()
    assert enqueued_jobs(enqueued) == []


def test_it_matches_a_strong_or_listed_etag(client_alice: Client, enqueued) -> None:
    put_report(spec_from_query(DAY_QUERY))
    etag = client_alice.get(URL)["ETag"]
    strong = etag.removeprefix("W/")
    listed = f'"other", {strong}'
    assert client_alice.get(URL, headers={"If-None-Match": listed}).status_code == 304


def test_a_new_result_gets_a_new_etag_and_a_full_answer(client_alice: Client, enqueued) -> None:
    spec = spec_from_query(DAY_QUERY)
    put_report(spec, as_of=time.time() - 600)
    old_etag = client_alice.get(URL)["ETag"]
    new_as_of = time.time() - 5
    put_report(spec, as_of=new_as_of)
    response = client_alice.get(URL, headers={"If-None-Match": old_etag})
    assert response.status_code == 200
    assert response["ETag"] != old_etag
    assert orjson.loads(response.content)["as_of_epoch"] == new_as_of
    assert client_alice.get(URL, headers={"If-None-Match": response["ETag"]}).status_code == 304


def test_a_stale_result_answers_in_full_and_starts_its_refresh(
    client_alice: Client, enqueued
) -> None:
    spec = spec_from_query(DAY_QUERY)
    put_report(spec)
    etag = client_alice.get(URL)["ETag"]
    cache.result_mark_stale(report_key=spec.key)
    response = client_alice.get(URL, headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert orjson.loads(response.content)["status"] == "stale"
    assert len(enqueued_jobs(enqueued)) == 1


def test_another_report_never_matches(client_alice: Client, enqueued) -> None:
    put_report(spec_from_query(DAY_QUERY))
    other_query = DAY_QUERY.replace("granularity=PT1H", "granularity=PT30M")
    assert other_query != DAY_QUERY
    put_report(spec_from_query(other_query))
    etag = client_alice.get(URL)["ETag"]
    response = client_alice.get("/api/report?" + other_query, headers={"If-None-Match": etag})
    assert response.status_code == 200


def test_a_poll_counts_against_the_read_cap(client_alice: Client, enqueued, settings) -> None:
    settings.DASHBOARD_REPORT_READS_PER_MINUTE = 2
    put_report(spec_from_query(DAY_QUERY))
    etag = client_alice.get(URL)["ETag"]
    assert client_alice.get(URL, headers={"If-None-Match": etag}).status_code == 304
    assert client_alice.get(URL, headers={"If-None-Match": etag}).status_code == 429


def test_it_needs_a_login_before_anything(client: Client) -> None:
    response = client.get(URL, headers={"If-None-Match": 'W/"anything"'})
    assert response.status_code == 401


def test_redis_down_answers_in_full(client_alice: Client, redis_down, inline_fetch) -> None:
    inline_fetch()
    response = client_alice.get(URL, headers={"If-None-Match": 'W/"anything"'})
    assert response.status_code == 200
    assert orjson.loads(response.content)["status"] == "degraded"


def test_a_poll_of_a_known_session_is_one_round_trip(
    client_alice: Client, enqueued, fake_redis, monkeypatch
) -> None:
    """The session, the user's copy and the result's version in one MULTI: a poll of an
    unchanged report waits on Redis once (dashboard.sessions session_load_with)."""
    put_report(spec_from_query(DAY_QUERY))
    etag = client_alice.get(URL)["ETag"]
    log = CommandLog(fake_redis, monkeypatch)
    assert client_alice.get(URL, headers={"If-None-Match": etag}).status_code == 304
    assert log.names() == [["MGET", "EVALSHA"]]
