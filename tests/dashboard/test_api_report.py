from __future__ import annotations

import time
from unittest import mock

import orjson
import pytest
from django.test import Client

from analytics_worker import cache
from analytics_worker.genesys.errors import GenesysUnavailable
from dashboard import sessions
from tests.dashboard.helpers import (
    DAY_QUERY,
    DST_DAY_QUERY,
    CommandLog,
    assert_csp,
    put_report,
    report_payload,
    spec_from_query,
)
from tests.helpers import enqueued_jobs

pytestmark = pytest.mark.django_db

URL = "/api/report?" + DAY_QUERY


def test_it_requires_login(client: Client) -> None:
    response = client.get(URL)
    assert response.status_code == 401
    assert response.json() == {"error": "Log in to use the dashboard API."}


def test_it_serves_a_fresh_hit_without_reserialising(client_alice: Client, enqueued) -> None:
    spec = spec_from_query(DAY_QUERY)
    as_of = time.time() - 60
    payload = put_report(spec, as_of=as_of)
    response = client_alice.get(URL)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    # The cached bytes go out untouched, spliced into the envelope.
    assert response.content.startswith(b'{"report":' + payload + b',"')
    body = orjson.loads(response.content)
    assert body["status"] == "fresh"
    assert body["job_id"] is None
    assert body["as_of_epoch"] == as_of
    assert body["fresh_until_epoch"] == as_of + 3600
    assert body["report"]["spec"]["time_zone"] == "America/Chicago"
    assert len(body["report"]["buckets"]) == 24
    assert enqueued_jobs(enqueued) == []
    assert_csp(response)


def test_it_serves_a_stale_hit_and_starts_one_refresh(client_alice: Client, enqueued) -> None:
    put_report(spec_from_query(DAY_QUERY), fresh=False)
    first = client_alice.get(URL).json()
    second = client_alice.get(URL).json()
    assert first["status"] == second["status"] == "stale"
    assert first["job_id"] == second["job_id"] == enqueued_jobs(enqueued)[0][1]
    assert len(enqueued_jobs(enqueued)) == 1
    assert len(first["report"]["buckets"]) == 24


def test_it_answers_a_miss_with_202_and_the_job(client_alice: Client, enqueued) -> None:
    response = client_alice.get(URL)
    assert response.status_code == 202
    body = response.json()
    job_id = enqueued_jobs(enqueued)[0][1]
    assert body == {"status": "pending", "job_id": job_id, "status_url": f"/api/jobs/{job_id}"}


def test_it_rejects_bad_input_naming_the_field(client_alice: Client) -> None:
    response = client_alice.get("/api/report?granularity=PT7M")
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "granularity"
    assert "PT7M" in body["error"]


def test_it_fetches_inline_when_redis_is_down(
    client_alice: Client, redis_down, inline_fetch
) -> None:
    inline_fetch()
    response = client_alice.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert "fetched directly" in body["message"]
    assert len(body["report"]["buckets"]) == 24


def test_it_answers_503_when_redis_and_the_inline_fetch_fail(
    client_alice: Client, redis_down, inline_fetch
) -> None:
    inline_fetch(error=GenesysUnavailable("Genesys did not answer (HTTP 503) after 6 attempts."))
    response = client_alice.get(URL)
    assert response.status_code == 503
    error = response.json()["error"]
    assert "The report cache (Redis) is unavailable" in error
    assert "Genesys did not answer (HTTP 503) after 6 attempts." in error


def test_it_answers_503_when_the_queue_is_down(client_alice: Client, monkeypatch) -> None:
    from analytics_worker import services

    def broker_down(*, spec, job_id):
        raise services.WorkerUnavailable("The task queue is unavailable.")

    monkeypatch.setattr(services, "_enqueue", broker_down)
    response = client_alice.get(URL)
    assert response.status_code == 503
    assert response.json() == {"error": "The task queue is unavailable."}


def test_it_refuses_post_in_json(client_alice: Client) -> None:
    response = client_alice.post(URL)
    assert response.status_code == 405
    assert response.json() == {"error": "Only GET is allowed here."}


def test_it_limits_reads_per_user(client_alice: Client, settings) -> None:
    settings.DASHBOARD_REPORT_READS_PER_MINUTE = 2
    put_report(spec_from_query(DAY_QUERY))
    assert client_alice.get(URL).status_code == 200
    assert client_alice.get(URL).status_code == 200
    response = client_alice.get(URL)
    assert response.status_code == 429
    assert "wait a moment" in response.json()["error"]


def test_it_reads_a_hit_with_only_the_session_queries(
    client_alice: Client, django_assert_max_num_queries
) -> None:
    put_report(spec_from_query(DAY_QUERY))
    with django_assert_max_num_queries(2):
        assert client_alice.get(URL).status_code == 200


def test_it_reads_a_hit_in_one_redis_round_trip(
    client_alice: Client, fake_redis, monkeypatch
) -> None:
    put_report(spec_from_query(DAY_QUERY))
    assert client_alice.get(URL).status_code == 200  # the first loads the script into Redis
    log = CommandLog(fake_redis, monkeypatch)
    response = client_alice.get(URL)
    assert response.status_code == 200
    assert response.json()["status"] == "fresh"
    # One MULTI sent at once: the session and the user's copy (dashboard.sessions,
    # dashboard.user_cache; none from the database), then a script that counts the user's
    # read and the hit (for /metrics) and checks freshness, and the payload beside it.
    assert log.names() == [["MGET", "EVALSHA", "HMGET"]]


# --- what one user's fetches may cost -------------------------------------------------------------

MONTH_OF_DETAILS = "range=custom&start=2024-01-{:02d}&end=2024-01-31&tz=UTC&source=details"


def test_a_user_cannot_queue_months_of_details_in_a_burst(
    client_alice: Client, enqueued, settings, django_user_model
) -> None:
    # The incident: 20 fetches of a month of details (hundreds of requests each) in 0.3 s.
    settings.REPORT_CONVERSATIONS_PER_DAY = 2000
    responses = [
        client_alice.get("/api/report?" + MONTH_OF_DETAILS.format(n)) for n in range(1, 21)
    ]
    assert [r.status_code for r in responses].count(202) == 1
    assert len(enqueued_jobs(enqueued)) == 1
    refused = responses[1]
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert "about 605 requests" in error and "can start in 11 min" in error
    # Another user's one-day report is not held back by it.
    other = Client()
    other.force_login(django_user_model.objects.create_user("bob"))
    assert other.get(URL).status_code == 202
    assert len(enqueued_jobs(enqueued)) == 2


def test_cheap_reports_are_not_held_back(client_alice: Client, enqueued) -> None:
    # A day of aggregates is one request: a person clicking through twenty stays in budget.
    for day in range(1, 21):
        query = f"range=custom&start=2024-02-{day:02d}&end=2024-02-{day:02d}&tz=UTC"
        assert client_alice.get("/api/report?" + query).status_code == 202
    assert len(enqueued_jobs(enqueued)) == 20


# --- Redis down: direct fetches are bounded -------------------------------------------------------


@pytest.fixture
def fresh_inline_counts(monkeypatch) -> None:
    """Direct fetches counted from zero (the counts live in this process, across tests)."""
    from analytics_worker import services

    monkeypatch.setattr(services, "_inline_requests", services._RecentRequests())


def test_redis_down_bounds_each_users_direct_fetches(
    client_alice: Client, redis_down, inline_fetch, fresh_inline_counts, settings, django_user_model
) -> None:
    settings.DASHBOARD_INLINE_REQUESTS_PER_USER_PER_MINUTE = 3
    calls = inline_fetch()
    statuses = [client_alice.get(URL).status_code for _ in range(5)]  # a day: 1 request each
    assert statuses == [200, 200, 200, 503, 503]
    assert len(calls) == 3
    error = client_alice.get(URL).json()["error"]
    assert "each person may send 3 requests a minute" in error and "can start in" in error
    bob = Client()
    bob.force_login(django_user_model.objects.create_user("bob"))
    assert bob.get(URL).status_code == 200


def test_redis_down_bounds_the_whole_process(
    client_alice: Client, redis_down, inline_fetch, fresh_inline_counts, settings, django_user_model
) -> None:
    settings.DASHBOARD_INLINE_REQUESTS_PER_MINUTE = 2
    inline_fetch()
    users = [Client() for _ in range(3)]
    for number, client in enumerate(users):
        client.force_login(django_user_model.objects.create_user(f"user{number}"))
    assert [client.get(URL).status_code for client in users] == [200, 200, 503]
    assert "this server sends at most 2 requests a minute" in users[2].get(URL).json()["error"]


def test_redis_down_fetches_only_short_ranges_directly(
    client_alice: Client, redis_down, inline_fetch, fresh_inline_counts
) -> None:
    calls = inline_fetch()
    week = "/api/report?range=custom&start=2024-11-01&end=2024-11-07&tz=UTC"
    response = client_alice.get(week)
    assert response.status_code == 503
    error = response.json()["error"]
    assert "The report cache (Redis) is unavailable" in error
    assert "only reports of up to 1 day are fetched directly" in error
    assert "choose a shorter range" in error
    assert calls == []
    # A day, even the 25 hours of the day the clocks go back, still is.
    assert client_alice.get("/api/report?" + DST_DAY_QUERY).status_code == 200


def test_redis_down_charges_what_a_direct_fetch_really_sent(
    client_alice: Client, redis_down, monkeypatch, fresh_inline_counts, settings
) -> None:
    from analytics_worker import fetch

    settings.DASHBOARD_INLINE_REQUESTS_PER_USER_PER_MINUTE = 9

    def fetch_sending(*, spec, progress, deadline):
        progress.requests = 9  # far more than a day of aggregates' estimated 1
        return report_payload(spec)

    monkeypatch.setattr(fetch, "report_fetch", fetch_sending)
    assert client_alice.get(URL).status_code == 200
    # Charged 1 up front, then the 8 more it sent: the next (1 more) would pass 9.
    assert client_alice.get(URL).status_code == 503


def test_a_read_made_for_another_user_is_read_again(client_alice: Client, alice, settings) -> None:
    """The report's read goes out with the session's before the session says whose it is,
    under the user this process expects; if the session holds someone else (it never should),
    that read is dropped and the view reads for the real user."""
    put_report(spec_from_query(DAY_QUERY))
    assert client_alice.get(URL).status_code == 200
    key = client_alice.cookies["sessionid"].value
    sessions._session_users.users[key] = alice.pk + 1000
    with mock.patch.object(cache, "result_lookup", wraps=cache.result_lookup) as lookup:
        response = client_alice.get(URL)
    assert response.status_code == 200
    assert response.wsgi_request.user == alice
    lookup.assert_called_once()
    assert lookup.call_args.kwargs["read_cap"].name == f"dashboard:reads:{alice.pk}"
