from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from django.test import Client

from analytics_worker import cache, fetch, services
from analytics_worker.genesys.errors import GenesysRateLimited
from tests.dashboard.helpers import (
    DAY_QUERY,
    DST_DAY_QUERY,
    assert_csp,
    assert_no_inline_script,
    put_report,
    report_payload,
    spec_from_query,
)
from tests.helpers import enqueued_jobs

pytestmark = pytest.mark.django_db

XSS = "</script><script>alert(1)</script>"


def page_config(html: str) -> dict:
    match = re.search(r'<script id="page-config" type="application/json">(.*?)</script>', html)
    assert match, "no page-config block"
    return orjson.loads(match.group(1))


def test_it_requires_login(client: Client) -> None:
    response = client.get("/?" + DAY_QUERY)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/")


def test_it_serves_the_login_page(client: Client) -> None:
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert b'name="username"' in response.content
    assert_csp(response)
    assert_no_inline_script(response.content.decode())


def test_it_renders_a_fresh_report(client_alice: Client) -> None:
    spec = spec_from_query(DAY_QUERY)
    put_report(spec)
    response = client_alice.get("/?" + DAY_QUERY)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Times in <strong" in html and "America/Chicago" in html
    assert re.search(r"as of <time datetime=\"[^\"]+-0[56]:00\">\d\d:\d\d</time>, 2 min ago", html)
    # KPIs over the range and one table row per bucket, labelled in the report's zone.
    assert 'data-kpi="conversations"' in html
    assert html.count('<time datetime="2024-11-02T') == 24
    assert '<time datetime="2024-11-02T14:00:00-05:00">14:00</time>' in html
    assert 'id="chart-data"' in html
    config = page_config(html)
    assert config["state"] == "fresh"
    assert config["jobId"] is None
    assert config["timeZone"] == "America/Chicago"
    assert_csp(response)
    assert_no_inline_script(html)


def test_it_shows_a_note_and_no_kpi_without_contact_centre_metrics(client_alice: Client) -> None:
    put_report(spec_from_query(DAY_QUERY))
    html = client_alice.get("/?" + DAY_QUERY).content.decode()
    # Only what the source has: no service level tile at all, and the chart says why.
    assert 'data-kpi="service_level_pct"' not in html
    assert 'data-kpi="avg_wait"' in html
    assert "Not available from this source" in html
    assert 'id="service-note" hidden' not in html


def test_it_shows_contact_centre_kpis_when_the_source_has_them(client_alice: Client) -> None:
    put_report(spec_from_query(DAY_QUERY), contact_centre=True)
    html = client_alice.get("/?" + DAY_QUERY).content.decode()
    assert re.search(
        r'data-kpi="abandon_pct"[^>]*>\s*<div class="kpi-label">Abandon %</div>\s*'
        r'<div class="kpi-value">\d+\.\d %</div>',
        html,
    )
    assert re.search(r'<th scope="col" class="num" title="[^"]+">Service level %</th>', html)
    assert 'id="service-note" hidden' in html
    # Every tile can be focused and says what it is; the service level says its target.
    assert html.count('tabindex="0" aria-describedby="kpi-formula-') == html.count("data-kpi=")
    assert "target 80.0 %" in html and "(oServiceLevel numerator ÷ denominator)" in html


def test_it_labels_a_dst_day_in_local_time(client_alice: Client) -> None:
    put_report(spec_from_query(DST_DAY_QUERY))
    html = client_alice.get("/?" + DST_DAY_QUERY).content.decode()
    assert html.count('<time datetime="2024-11-03T') == 25
    # The repeated hour's two rows say their offsets.
    assert '<time datetime="2024-11-03T01:00:00-05:00">01:00 (UTC-05:00)</time>' in html
    assert '<time datetime="2024-11-03T01:00:00-06:00">01:00 (UTC-06:00)</time>' in html


def test_it_renders_a_stale_report_and_follows_its_refresh(client_alice: Client, enqueued) -> None:
    spec = spec_from_query(DAY_QUERY)
    put_report(spec, fresh=False)
    response = client_alice.get("/?" + DAY_QUERY)
    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r'<span id="refreshing" class="refreshing">\(refreshing…\)</span>', html)
    config = page_config(html)
    assert config["state"] == "stale"
    assert len(enqueued_jobs(enqueued)) == 1
    assert config["jobId"] == enqueued_jobs(enqueued)[0][1]
    assert config["jobUrl"] == f"/api/jobs/{config['jobId']}"
    # The data is on the page while the refresh runs.
    assert html.count('<time datetime="2024-11-02T') == 24


def test_it_shows_the_last_refresh_failure_on_a_stale_report(
    client_alice: Client, enqueued
) -> None:
    spec = spec_from_query(DAY_QUERY)
    put_report(spec, fresh=False)
    cache.report_error_put(
        report_key=spec.key, message="Genesys said no (HTTP 503).", at=time.time()
    )
    html = client_alice.get("/?" + DAY_QUERY).content.decode()
    assert "The last refresh failed at" in html
    assert "Genesys said no (HTTP 503)." in html


def test_it_renders_the_pending_page_at_once_on_a_miss(client_alice: Client, enqueued) -> None:
    response = client_alice.get("/?" + DAY_QUERY)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Loading this report" in html
    assert "Queued: waiting for a worker" in html
    # No JS: reload every 3 s; JS ignores <noscript> and polls instead.
    assert '<noscript><meta http-equiv="refresh" content="3"></noscript>' in html
    config = page_config(html)
    assert config["state"] == "pending"
    assert config["jobId"] == enqueued_jobs(enqueued)[0][1]
    assert 'id="chart-data"' not in html
    assert 'id="report" hidden' in html
    assert_csp(response)
    assert_no_inline_script(html)


def test_it_joins_the_running_job_on_a_second_miss(client_alice: Client, enqueued) -> None:
    first = page_config(client_alice.get("/?" + DAY_QUERY).content.decode())
    second = page_config(client_alice.get("/?" + DAY_QUERY).content.decode())
    assert first["jobId"] == second["jobId"]
    assert len(enqueued_jobs(enqueued)) == 1


def test_it_shows_fetch_progress(client_alice: Client, enqueued) -> None:
    spec = spec_from_query(DAY_QUERY)
    job_id = services.report_lookup(spec=spec).job_id
    cache.job_update(
        job_id=job_id,
        state="waiting",
        pages=3,
        items=250,
        message="Genesys rate limit (429): waiting 12 s",
        wait_until=time.time() + 12,
    )
    html = client_alice.get("/?" + DAY_QUERY).content.decode()
    assert re.search(r"Genesys asked us to wait 1[12] s; 3 pages, 250 conversations so far.", html)
    assert "Genesys rate limit (429): waiting 12 s" in html


def test_it_says_when_no_worker_picks_up_the_job(client_alice: Client, enqueued) -> None:
    spec = spec_from_query(DAY_QUERY)
    job_id = services.report_lookup(spec=spec).job_id
    cache.job_update(job_id=job_id, created_at=time.time() - 45)
    html = client_alice.get("/?" + DAY_QUERY).content.decode()
    assert "no worker has picked it up" in html
    assert "Celery worker may be down" in html


def test_it_shows_the_previous_failure_while_retrying(client_alice: Client, enqueued) -> None:
    spec = spec_from_query(DAY_QUERY)
    cache.report_error_put(
        report_key=spec.key, message="Genesys rejected the client credentials.", at=time.time()
    )
    html = client_alice.get("/?" + DAY_QUERY).content.decode()
    assert "The previous attempt failed at" in html
    assert "Genesys rejected the client credentials." in html
    # The Retry button exists for the poller to reveal when this job fails too.
    assert 'id="retry"' in html


def test_it_shows_a_failed_job_with_retry(client_alice: Client, enqueued, monkeypatch) -> None:
    spec = spec_from_query(DAY_QUERY)
    job_id = services.report_lookup(spec=spec).job_id
    cache.job_update(job_id=job_id, state="failed", message="Genesys is down (HTTP 503).")
    # A failed job's lock is normally released, so the next lookup starts afresh; here the page
    # is asked while it still holds (as right before the release).
    monkeypatch.setattr(services, "_lock_is_orphaned", lambda job_id: False)
    html = client_alice.get("/?" + DAY_QUERY).content.decode()
    assert "The fetch failed: Genesys is down (HTTP 503)." in html
    assert re.search(r'<p id="job-failed">\s*<a class="button button--primary" id="retry"', html)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("range=fortnight", "range"),
        ("granularity=PT5M", "granularity"),
        ("tz=Mars/Olympus", "tz"),
        ("type=fax", "type"),
        ("direction=sideways", "direction"),
        ("queue=bad%20id!", "queue"),
        ("view=no%20spaces", "view"),
        ("range=custom&start=2024-11-02", "end"),
        ("range=custom&start=yesterday-ish&end=2024-11-02", "start"),
        ("source=soap", "source"),
    ],
)
def test_it_rejects_bad_input_naming_the_field(
    client_alice: Client, query: str, field: str
) -> None:
    response = client_alice.get("/?" + query)
    assert response.status_code == 400
    html = response.content.decode()
    assert "Check the highlighted filter." in html
    assert f'id="error-{field}"' in html
    if field != "source":
        # The highlighted field is the one that holds the message.
        highlighted = rf'field--error"[^>]*>(?:(?!class="field[ "]).)*id="error-{field}"'
        assert re.search(highlighted, html, re.DOTALL)
        assert f'aria-describedby="error-{field}"' in html
    assert "Traceback" not in html
    assert_csp(response)
    assert_no_inline_script(html)


def test_it_shows_a_hostile_filter_value_as_text(client_alice: Client) -> None:
    response = client_alice.get("/", {"tz": XSS, "view": XSS})
    assert response.status_code == 400
    html = response.content.decode()
    assert XSS not in html
    assert "<script>alert(1)" not in html
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert_no_inline_script(html)


def test_it_defaults_to_the_contact_centres_time_zone(
    client_alice: Client, enqueued, settings
) -> None:
    settings.REPORT_DEFAULT_TIME_ZONE = "Europe/Paris"
    html = client_alice.get("/").content.decode()
    config = page_config(html)
    assert config["timeZone"] == "Europe/Paris"
    assert config["hasTzParam"] is False
    assert 'value="Europe/Paris"' in html


def test_it_keeps_filters_in_the_links(client_alice: Client) -> None:
    query = (
        DAY_QUERY
        + "&type=voice&type=chat&direction=inbound&view=view-sales&source=graphql&auto=5&wall=1"
    )
    put_report(spec_from_query(query))
    html = client_alice.get("/?" + query).content.decode()
    assert 'name="type" value="voice" checked' in html
    assert 'name="type" value="chat" checked' in html
    assert '<option value="inbound" selected>' in html
    assert '<option value="5" selected>every 5 min</option>' in html
    # Exports and the API name the report only: no page-only parameters.
    config = page_config(html)
    assert "auto=" not in config["panelUrl"] and "wall=" not in config["panelUrl"]
    assert "type=voice&amp;type=chat" in html
    assert config["auto"] == 5 and config["wall"] is True
    assert '<body class="wall">' in html
    # Without JS an auto-refreshing wallboard still reloads.
    assert '<noscript><meta http-equiv="refresh" content="300"></noscript>' in html


def test_it_falls_back_to_a_queue_id_input(client_alice: Client, enqueued, monkeypatch) -> None:
    # The queue names are not cached yet: the form takes ids instead.
    monkeypatch.setattr(services, "queue_choices", lambda: [])
    html = client_alice.get("/?queue=q-1,q-2").content.decode()
    assert '<input name="queue" id="f-queue" type="text" value="q-1,q-2"' in html


def test_it_offers_queue_names_when_known(client_alice: Client, enqueued, monkeypatch) -> None:
    monkeypatch.setattr(services, "queue_choices", lambda: [("q-1", "Sales"), ("q-2", "Support")])
    html = client_alice.get("/?queue=Support").content.decode()
    # Searchable checkboxes, by name; a queue named by name is ticked as its id.
    assert 'id="queue-search"' in html
    assert '<input type="checkbox" name="queue" value="q-2" data-label="Support" checked>' in html
    assert '<input type="checkbox" name="queue" value="q-1" data-label="Sales">' in html


def test_an_unknown_queue_is_a_400_that_names_it(client_alice: Client, enqueued, monkeypatch):
    monkeypatch.setattr(services, "queue_choices", lambda: [("q-1", "Sales"), ("q-2", "Support")])
    response = client_alice.get("/?queue=Suport")
    assert response.status_code == 400
    assert "no queue is named &#x27;Suport&#x27;" in response.content.decode()
    response = client_alice.get("/api/report?queue=Suport")
    assert response.status_code == 400
    assert response.json()["field"] == "queue" and "'Suport'" in response.json()["error"]
    assert enqueued_jobs(enqueued) == []


def test_it_fetches_inline_when_redis_is_down(
    client_alice: Client, redis_down, inline_fetch
) -> None:
    calls = inline_fetch()
    response = client_alice.get("/?" + DAY_QUERY)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Degraded:" in html
    assert "the report cache is unavailable, this was fetched directly" in html
    assert html.count('<time datetime="2024-11-02T') == 24
    assert len(calls) == 1
    assert page_config(html)["state"] == "degraded"
    assert_no_inline_script(html)


def test_it_explains_when_redis_is_down_and_the_inline_fetch_fails(
    client_alice: Client, redis_down, inline_fetch
) -> None:
    inline_fetch(error=fetch.FetchDeadlineExceeded("gave up after 4 pages"))
    response = client_alice.get("/?" + DAY_QUERY)
    assert response.status_code == 503
    html = response.content.decode()
    assert "The report cache (Redis) is unavailable" in html
    assert "took longer than 10 s (gave up after 4 pages)" in html
    assert "Check that Redis is running" in html
    assert_csp(response)


def test_it_shows_a_genesys_error_from_the_inline_fetch(
    client_alice: Client, redis_down, inline_fetch
) -> None:
    inline_fetch(error=GenesysRateLimited("Genesys rate limit (429) outlasted the retries."))
    response = client_alice.get("/?" + DAY_QUERY)
    assert response.status_code == 503
    assert "Genesys rate limit (429) outlasted the retries." in response.content.decode()


def test_it_says_when_the_worker_queue_is_down(client_alice: Client, monkeypatch) -> None:
    def broker_down(*, spec, job_id):
        raise services.WorkerUnavailable(
            "The task queue is unavailable, so the report cannot be fetched right now."
        )

    monkeypatch.setattr(services, "_enqueue", broker_down)
    response = client_alice.get("/?" + DAY_QUERY)
    assert response.status_code == 503
    html = response.content.decode()
    assert "The task queue is unavailable" in html
    assert "Start the Celery worker" in html
    assert_no_inline_script(html)


def test_it_limits_report_reads_per_user(client_alice: Client, settings) -> None:
    settings.DASHBOARD_REPORT_READS_PER_MINUTE = 1
    put_report(spec_from_query(DAY_QUERY))
    assert client_alice.get("/?" + DAY_QUERY).status_code == 200
    response = client_alice.get("/?" + DAY_QUERY)
    assert response.status_code == 429
    assert "Too many report requests" in response.content.decode()


def test_it_says_when_a_report_over_the_fetch_budget_can_start(
    client_alice: Client, enqueued, settings
) -> None:
    settings.DASHBOARD_FETCH_BUDGET_REQUESTS = 100
    settings.REPORT_CONVERSATIONS_PER_DAY = 2000
    week = "range=custom&start=2024-10-01&end=2024-10-07&tz=UTC&source=details"  # 141
    assert client_alice.get("/?" + week).status_code == 200  # pending
    response = client_alice.get("/?" + DAY_QUERY.replace("2024-11-02", "2024-11-05"))
    assert response.status_code == 429
    html = response.content.decode()
    assert "Too many reports started" in html
    # 141 requests owed, paid off at one a second, until 99 are left: room for this one.
    assert "about 1 request and can start in 42 s" in html
    assert len(enqueued_jobs(enqueued)) == 1


def test_it_shows_the_refresh_button_to_staff_only(
    client_alice: Client, client_staff: Client
) -> None:
    put_report(spec_from_query(DAY_QUERY))
    assert b"Refresh now" not in client_alice.get("/?" + DAY_QUERY).content
    html = client_staff.get("/?" + DAY_QUERY).content.decode()
    assert re.search(r'<form method="post" action="/refresh\?range=custom[^"]*"', html)
    assert "csrfmiddlewaretoken" in html


def test_it_reads_a_hit_with_only_the_session_queries(
    client_alice: Client, django_assert_max_num_queries
) -> None:
    put_report(spec_from_query(DAY_QUERY))
    # Session, user and the Saved views menu: the report itself comes from Redis (and the
    # page's redraws, /report/panel, have no menu: tests/dashboard/test_report_panel.py).
    with django_assert_max_num_queries(3):
        response = client_alice.get("/?" + DAY_QUERY)
    assert response.status_code == 200


def test_it_refuses_post(client_alice: Client) -> None:
    assert client_alice.post("/").status_code == 405


def test_the_range_never_ends_in_the_future(client_alice: Client) -> None:
    query = "range=today&tz=UTC&granularity=PT1H"
    put_report(spec_from_query(query))
    html = client_alice.get("/?" + query).content.decode()
    label = re.search(r'id="status-range">([^<]+)<', html)[1]
    # The bucket of now ends later this hour: the header says "now" and the time it is.
    assert re.fullmatch(r"\w{3} \d+ \w{3} 00:00 – now \(\d\d:\d\d\)", label), label


def test_a_report_nothing_matched_says_so(client_alice: Client, enqueued) -> None:
    spec = spec_from_query(DAY_QUERY)
    payload = report_payload(spec, contact_centre=True)
    payload["totals"] = {name: 0 for name in payload["totals"]}
    put_report(spec, payload=payload)
    html = client_alice.get("/?" + DAY_QUERY).content.decode()
    assert "No conversations matched these filters in this range." in html
    # With conversations there is no such note.
    put_report(spec, contact_centre=True)
    assert "No conversations matched" not in client_alice.get("/?" + DAY_QUERY).content.decode()


def test_the_page_writes_its_filters_in_one_line_by_name(
    client_alice: Client, enqueued, monkeypatch
) -> None:
    monkeypatch.setattr(services, "queue_choices", lambda: [("q-1", "Sales"), ("q-2", "Support")])
    html = client_alice.get("/?" + DAY_QUERY + "&queue=q-2&type=voice&group=media").content.decode()
    summary = re.search(r'<p class="filter-summary small" id="filter-summary">([^<]*)</p>', html)
    assert summary is not None
    assert summary.group(1) == (
        "Support · Voice · inbound and outbound · per media type · aggregates source"
    )


def test_every_page_says_at_once_when_data_collection_is_down(
    client_alice: Client, enqueued, fake_redis
) -> None:
    from analytics_worker.redis_client import worker_heartbeat_key, worker_last_seen_key

    # No worker has ever reported.
    html = client_alice.get("/?" + DAY_QUERY).content.decode()
    assert "Data collection is down: no worker has reported yet." in html
    # The last heartbeat expired at 19:59 (UTC, the default zone): down since then.
    last = datetime(2024, 11, 2, 19, 59, 30, tzinfo=UTC).timestamp()
    fake_redis.set(worker_last_seen_key(), last)
    html = client_alice.get("/conversations?" + DAY_QUERY).content.decode()
    assert "Data collection is down since 19:59 (UTC): showing what was fetched before." in html
    # A worker's heartbeat is recent: no banner.
    fake_redis.set(worker_heartbeat_key("worker@host"), time.time(), ex=60)
    assert 'id="collection-down"' not in client_alice.get("/?" + DAY_QUERY).content.decode()


def test_the_view_filter_is_offered_only_where_the_source_has_views(
    client_alice: Client, enqueued, settings
) -> None:
    settings.ANALYTICS_SOURCE = "aggregates"
    assert 'id="f-view"' not in client_alice.get("/?" + DAY_QUERY).content.decode()
    assert 'id="f-view"' in client_alice.get("/?" + DAY_QUERY + "&source=graphql").content.decode()
    # A view the source cannot apply is shown, with its error, to be fixed.
    response = client_alice.get("/?" + DAY_QUERY + "&view=sales")
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="f-view"' in html and "has no views" in html


def test_the_last_good_data_stays_on_screen_when_the_range_moves_on(
    client_alice: Client, enqueued
) -> None:
    # "Last 24 hours" at 19:55 has been fetched; at 20:05 the range is a bucket later, a new
    # report: the page shows the 19:55 one as stale while the new one loads, never a blank.
    from analytics_worker import reports

    new = spec_from_query("range=last_24h&tz=UTC")
    old = reports.ReportSpec.from_dict(
        {
            **new.to_dict(),
            "start": (new.start - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end": (new.end - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )
    assert old.series_key == new.series_key and old.key != new.key
    cache.result_put(
        report_key=old.key,
        payload=orjson.dumps(report_payload(old)),
        as_of=time.time() - 600,
        fresh_seconds=120,
        ttl_seconds=3600,
        series_key=old.series_key,
    )
    html = client_alice.get("/?range=last_24h&tz=UTC").content.decode()
    assert "not loaded yet" not in html
    assert '<span id="refreshing" class="refreshing">(refreshing…)</span>' in html
    assert html.count('<time datetime="') >= 48  # the old report's buckets
    [(key, _job)] = enqueued_jobs(enqueued)
    assert key == new.key  # the new interval is being fetched
    # Another date of the same filters is not an older view of this one: no such stand-in.
    day = spec_from_query(DAY_QUERY)
    cache.result_put(
        report_key=day.key,
        payload=orjson.dumps(report_payload(day)),
        as_of=time.time() - 600,
        fresh_seconds=120,
        ttl_seconds=3600,
        series_key=day.series_key,
    )
    next_day = DAY_QUERY.replace("2024-11-02", "2024-11-03")
    assert spec_from_query(next_day).series_key == day.series_key
    html = client_alice.get("/?" + next_day).content.decode()
    assert "not loaded yet" in html


def test_a_comparison_with_the_day_before_reads_that_report_too(
    client_alice: Client, enqueued
) -> None:
    spec = spec_from_query(DAY_QUERY)
    put_report(spec, contact_centre=True)
    before = spec_from_query(DAY_QUERY.replace("2024-11-02", "2024-11-01"))
    # Not cached yet: its fetch starts, and the page says it is on its way.
    html = client_alice.get("/?" + DAY_QUERY + "&compare=day").content.decode()
    assert "Compared with the day before: The day before is loading." in html
    assert [key for key, _ in enqueued_jobs(enqueued)] == [before.key]
    # Cached: every tile says its change; the redraws keep the comparison, exports do not.
    put_report(before, contact_centre=True)
    html = client_alice.get("/?" + DAY_QUERY + "&compare=day").content.decode()
    assert html.count("vs the day before</div>") >= 5
    assert "compare=day" in re.search(r'"panelUrl": "([^"]*)"', html).group(1)
    assert "compare" not in re.search(r'id="export-csv" href="([^"]*)"', html).group(1)
    panel = client_alice.get("/report/panel?" + DAY_QUERY + "&compare=day").json()
    assert "vs the day before" in panel["kpis_html"] and panel["compare_pending"] is False
