"""/report/panel: the report part of the page, for dashboard.js to redraw without a reload."""

from __future__ import annotations

import re
import time

import pytest
from django.test import Client

from analytics_worker import fetch, services
from analytics_worker.genesys.errors import GenesysUnavailable
from dashboard import kpis
from tests.dashboard.helpers import (
    DAY_QUERY,
    assert_csp,
    put_report,
    report_payload,
    spec_from_query,
)
from tests.helpers import enqueued_jobs

pytestmark = pytest.mark.django_db

URL = "/report/panel?" + DAY_QUERY


def squeeze(html: str) -> str:
    return re.sub(r">\s+<", "><", html).strip()


def test_it_requires_login(client: Client) -> None:
    response = client.get(URL)
    assert response.status_code == 401
    assert response.json() == {"error": "Log in to use the dashboard API."}


def test_it_serves_a_fresh_report_as_html_fragments_and_chart_data(
    client_alice: Client, enqueued
) -> None:
    spec = spec_from_query(DAY_QUERY)
    as_of = time.time() - 120
    put_report(spec, as_of=as_of, contact_centre=True)
    response = client_alice.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "fresh"
    assert body["job_id"] is None and body["status_url"] is None
    assert body["message"] == ""
    assert body["as_of_epoch"] == as_of
    assert re.fullmatch(r"\d\d:\d\d", body["as_of_label"])
    assert body["range_label"] == "Sat 2 Nov 00:00 – Sun 3 Nov 00:00"
    # The aggregates' tiles: the queue KPIs (their conversations are the offers, shown once),
    # flow-outs, short abandons, transfers.
    assert body["kpis_html"].count("data-kpi=") == 11
    assert 'data-kpi="conversations"' not in body["kpis_html"]
    assert re.search(
        r'data-kpi="abandon_pct"[^>]*>\s*<div class="kpi-label">Abandon %</div>\s*'
        r'<div class="kpi-value">\d+\.\d %</div>',
        body["kpis_html"],
    )
    assert body["table_html"].count('<time datetime="2024-11-02T') == 24
    assert re.search(
        r'<th scope="col" class="num" title="[^"]+">Service level %</th>', body["table_html"]
    )
    # No breakdown: no per-group chart.
    assert body["charts"] == {
        **kpis.report_charts(report_payload(spec, contact_centre=True)),
        "groups": None,
    }
    assert body["groups_html"].strip() == ""
    assert enqueued_jobs(enqueued) == []
    assert_csp(response)


def test_it_renders_the_same_tiles_and_table_as_the_page(client_alice: Client) -> None:
    put_report(spec_from_query(DAY_QUERY))
    page = client_alice.get("/?" + DAY_QUERY).content.decode()
    panel = client_alice.get(URL).json()
    tiles = re.search(r'<div class="kpis" id="kpis">(.*?)</div>\s*<div class="charts">', page, re.S)
    table = re.search(r'<table class="buckets" id="bucket-table">(.*?)</table>', page, re.S)
    assert tiles and table
    assert squeeze(tiles.group(1)) == squeeze(panel["kpis_html"])
    assert squeeze(table.group(1)) == squeeze(panel["table_html"])


def test_it_serves_a_stale_report_with_the_job_refreshing_it(
    client_alice: Client, enqueued
) -> None:
    put_report(spec_from_query(DAY_QUERY), fresh=False)
    body = client_alice.get(URL).json()
    job_id = enqueued_jobs(enqueued)[0][1]
    assert body["status"] == "stale"
    assert body["job_id"] == job_id
    assert body["status_url"] == f"/api/jobs/{job_id}"
    assert body["table_html"].count("<tr>") == 25  # the head and 24 buckets
    # A second read joins that refresh.
    assert client_alice.get(URL).json()["job_id"] == job_id
    assert len(enqueued_jobs(enqueued)) == 1


def test_it_answers_a_miss_with_202_and_the_job(client_alice: Client, enqueued) -> None:
    response = client_alice.get(URL)
    assert response.status_code == 202
    job_id = enqueued_jobs(enqueued)[0][1]
    assert response.json() == {
        "status": "pending",
        "job_id": job_id,
        "status_url": f"/api/jobs/{job_id}",
    }


def test_it_rejects_bad_input_naming_the_field(client_alice: Client) -> None:
    response = client_alice.get("/report/panel?tz=Mars/Olympus")
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "tz"
    assert "Mars/Olympus" in body["error"]


def test_it_fetches_inline_when_redis_is_down(
    client_alice: Client, redis_down, inline_fetch
) -> None:
    calls = inline_fetch()
    response = client_alice.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert "fetched directly" in body["message"]
    assert body["table_html"].count('<time datetime="2024-11-02T') == 24
    assert len(calls) == 1


def test_it_answers_503_when_redis_and_the_inline_fetch_fail(
    client_alice: Client, redis_down, inline_fetch
) -> None:
    inline_fetch(error=GenesysUnavailable("Genesys did not answer (HTTP 503) after 6 attempts."))
    response = client_alice.get(URL)
    assert response.status_code == 503
    error = response.json()["error"]
    assert "The report cache (Redis) is unavailable" in error
    assert "Genesys did not answer (HTTP 503) after 6 attempts." in error


def test_it_explains_an_inline_fetch_out_of_time(
    client_alice: Client, redis_down, inline_fetch
) -> None:
    inline_fetch(error=fetch.FetchDeadlineExceeded("gave up after 4 pages"))
    response = client_alice.get(URL)
    assert response.status_code == 503
    assert "took longer than 10 s (gave up after 4 pages)" in response.json()["error"]


def test_it_answers_503_when_the_queue_is_down(client_alice: Client, monkeypatch) -> None:
    def broker_down(*, spec, job_id):
        raise services.WorkerUnavailable("The task queue is unavailable.")

    monkeypatch.setattr(services, "_enqueue", broker_down)
    response = client_alice.get(URL)
    assert response.status_code == 503
    assert response.json() == {"error": "The task queue is unavailable."}


def test_it_counts_against_the_read_cap(client_alice: Client, settings) -> None:
    settings.DASHBOARD_REPORT_READS_PER_MINUTE = 2
    put_report(spec_from_query(DAY_QUERY))
    assert client_alice.get("/?" + DAY_QUERY).status_code == 200
    assert client_alice.get(URL).status_code == 200
    response = client_alice.get(URL)
    assert response.status_code == 429
    assert "wait a moment" in response.json()["error"]


def test_it_refuses_post_in_json(client_alice: Client) -> None:
    response = client_alice.post(URL)
    assert response.status_code == 405
    assert response.json() == {"error": "Only GET is allowed here."}


def test_it_reads_a_hit_with_only_the_session_queries(
    client_alice: Client, django_assert_max_num_queries
) -> None:
    put_report(spec_from_query(DAY_QUERY))
    with django_assert_max_num_queries(2):
        assert client_alice.get(URL).status_code == 200


def test_the_pages_poll_of_an_unchanged_panel_is_a_304(client_alice: Client, enqueued, monkeypatch):
    spec = spec_from_query(DAY_QUERY)
    put_report(spec, as_of=time.time() - 60)
    first = client_alice.get(URL)
    etag = first["ETag"]
    assert first.status_code == 200 and etag and "no-cache" in first["Cache-Control"]
    again = client_alice.get(URL, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    # A new result is a new tag and a whole answer.
    put_report(spec, as_of=time.time())
    changed = client_alice.get(URL, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed["ETag"] != etag
    assert enqueued_jobs(enqueued) == []


def test_a_breakdowns_panel_is_not_a_304_once_its_names_have_arrived(
    client_alice: Client, enqueued, monkeypatch
):
    query = DAY_QUERY + "&group=agent"
    put_report(spec_from_query(query), as_of=time.time() - 60)
    monkeypatch.setattr(services, "user_names", lambda: {})
    etag = client_alice.get("/report/panel?" + query)["ETag"]
    monkeypatch.setattr(services, "user_names", lambda: {"u-1": "Grace Hopper"})
    # The same result, but the table can now name its agents: answered in full.
    response = client_alice.get("/report/panel?" + query, headers={"If-None-Match": etag})
    assert response.status_code == 200 and response["ETag"] != etag
