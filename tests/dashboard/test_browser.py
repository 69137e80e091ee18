"""The dashboard in a real browser: Chromium through Playwright, against pytest-django's
live_server. There is no Celery worker here: enqueueing runs the job in a thread, and the fetch
itself is a deterministic stand-in that yields a few pages slowly."""

from __future__ import annotations

import csv
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection

from analytics_worker import fetch, reports
from analytics_worker.genesys.errors import GenesysUnavailable
from analytics_worker.tasks import fetch_report_task
from tests.dashboard.helpers import put_report, report_payload, spec_from_query

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "test-output"
PASSWORD = "correct horse battery staple"
DAY = "range=custom&start=2024-11-02&end=2024-11-02&tz=America/Chicago"
# Reports of this view fail half-way, as when Genesys keeps answering 503.
BROKEN_VIEW = "view-broken"
BROKEN_MESSAGE = "Genesys did not answer (HTTP 503) after 6 attempts; try again later."

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip("Chromium not installed: apt-get install chromium")
    # Playwright's sync API runs an event loop in this thread; Django's ORM (the test's own
    # user setup) would otherwise refuse to run next to it.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def jobs_in_threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[threading.Thread]]:
    """Enqueueing starts fetch.report_job_run in a thread; the fetch yields three slow pages."""
    threads: list[threading.Thread] = []

    def slow_fetch(
        *,
        spec: reports.ReportSpec,
        progress: Any = None,
        on_page: Any = None,
        deadline: float | None = None,
    ) -> dict[str, Any]:
        pages = 3
        for page in range(1, pages + 1):
            if spec.view_id == BROKEN_VIEW and page == 2:
                raise GenesysUnavailable(BROKEN_MESSAGE)
            time.sleep(0.25)
            if page == 2 and progress is not None and progress.on_wait is not None:
                progress.on_wait(0.6, "Genesys rate limit (429): waiting 1 s")
                time.sleep(0.6)
            if on_page is not None:
                on_page(page, page * 180)
        return report_payload(spec)

    def run_job(spec_data: dict[str, Any], job_id: str) -> None:
        try:
            fetch.report_job_run(spec_data=spec_data, job_id=job_id)
        finally:
            connection.close()  # this thread's own DB connection

    def enqueue_in_thread(*, kwargs: dict[str, Any], **_: Any) -> None:
        thread = threading.Thread(
            target=run_job,
            kwargs={"spec_data": kwargs["spec"], "job_id": kwargs["job_id"]},
            daemon=True,
        )
        threads.append(thread)
        thread.start()

    monkeypatch.setattr(fetch, "report_fetch", slow_fetch)
    monkeypatch.setattr(fetch_report_task, "apply_async", enqueue_in_thread)
    yield threads
    for thread in threads:
        thread.join(timeout=10)


@pytest.fixture
def page(browser: Any, live_server: Any, settings: Any, jobs_in_threads: Any) -> Iterator[Any]:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    User.objects.create_user("supervisor", password=PASSWORD, is_staff=True)
    # A laptop screen, and a supervisor in another zone than the contact centre's.
    context = browser.new_context(
        viewport={"width": 1366, "height": 768}, timezone_id="Europe/Paris", accept_downloads=True
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.csp_violations = []
    page.on(
        "console",
        lambda message: (
            "Content Security Policy" in message.text and page.csp_violations.append(message.text)
        ),
    )
    page.goto(live_server.url + "/")
    page.fill("#id_username", "supervisor")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    yield page
    assert page.csp_violations == []
    context.close()


def chart_points(page: Any, canvas_id: str) -> int:
    return page.evaluate(
        """(id) => {
            const chart = window.Chart && Chart.getChart(document.getElementById(id));
            return chart ? chart.data.datasets[0].data.length : -1;
        }""",
        canvas_id,
    )


def wait_for_chart(page: Any, canvas_id: str, points: int | None = None) -> int:
    """Wait until the chart has data (`points` of them, if given); return how many."""
    page.wait_for_function(
        """([id, points]) => {
            const chart = window.Chart && Chart.getChart(document.getElementById(id));
            const n = chart ? chart.data.datasets[0].data.length : 0;
            return points === null ? n > 0 : n === points;
        }""",
        arg=[canvas_id, points],
    )
    return chart_points(page, canvas_id)


def test_it_loads_a_cold_report_and_draws_it(page: Any, live_server: Any) -> None:
    # Logged in, on the default view: last 24 h in 30-minute buckets, cold.
    expect(page.locator("#job-panel")).to_be_visible()
    expect(page.locator("#job-progress")).to_contain_text(
        re.compile(r"Queued|Fetching|Genesys asked us to wait")
    )
    # Progress arrives while the (slow) fetch runs.
    expect(page.locator("#job-progress")).to_contain_text(re.compile(r"Fetching|Genesys asked"))
    # "Last 24 hours" is 24 hours: 48 buckets of 30 minutes, whenever it is asked.
    points = wait_for_chart(page, "chart-volume")
    assert points == 48
    expect(page.locator("#job-panel")).to_be_hidden()
    expect(page.locator("#report")).to_be_visible()
    assert chart_points(page, "chart-wait") == points
    expect(page.locator('[data-kpi="conversations"] .kpi-value')).not_to_have_text("n/a")
    # This source has no queue counts: no service level tile, and the chart says why.
    expect(page.locator('[data-kpi="service_level_pct"]')).to_have_count(0)
    expect(page.locator("#service-note")).to_be_visible()
    expect(page.locator("#bucket-table tbody tr")).to_have_count(points)
    expect(page.locator("#as-of")).to_contain_text(re.compile(r"as of \d\d:\d\d, just now"))
    # The contact centre's zone is UTC; the browser is in Paris: offer a one-click switch.
    expect(page.locator("#tz-suggestion")).to_have_text("Show in your time zone (Europe/Paris)")
    SCREENSHOT_DIR.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT_DIR / "dashboard.png"), full_page=True)


def test_it_changes_a_filter_and_redraws(page: Any, live_server: Any) -> None:
    page.goto(f"{live_server.url}/?{DAY}&granularity=PT30M")
    wait_for_chart(page, "chart-volume", 48)
    # Labels are the report's own local times, not converted to the browser's (Paris) zone.
    labels = page.evaluate(
        "() => Chart.getChart(document.getElementById('chart-volume')).data.labels"
    )
    assert labels[:2] == ["00:00", "00:30"]
    page.select_option("#f-granularity", "PT1H")
    page.click("#filters button[type=submit]")
    page.wait_for_url(re.compile(r"granularity=PT1H"))
    assert "start=2024-11-02" in page.url and "auto=" not in page.url
    wait_for_chart(page, "chart-volume", 24)

    with page.expect_download() as download_info:
        page.click("#export-csv")
    download = download_info.value
    assert download.suggested_filename == (
        "report_2024-11-02T0000-0500_2024-11-03T0000-0500_PT1H.csv"
    )
    with open(download.path(), newline="") as file:
        # The description block (`# name: value`) first, then the table and its total row.
        rows = list(csv.DictReader(line for line in file if not line.startswith("#")))
    assert len(rows) == 24 + 1 and rows[-1]["start"] == "total"
    assert (rows[14]["start"], rows[14]["start_utc"]) == (
        "2024-11-02 14:00:00",
        "2024-11-02T19:00:00Z",
    )


def test_it_refreshes_for_staff_then_shows_new_data(page: Any, live_server: Any) -> None:
    page.goto(f"{live_server.url}/?{DAY}&granularity=PT1H")
    wait_for_chart(page, "chart-volume", 24)
    page.click("#refresh-form button")
    expect(page.locator(".message--success")).to_have_text(
        "Refreshing this report from the source."
    )
    expect(page.locator("#refreshing")).to_be_visible()
    # The refresh job ends; the poller swaps in its data and the note goes away.
    expect(page.locator("#refreshing")).to_be_hidden()
    assert chart_points(page, "chart-volume") == 24
    expect(page.locator("#as-of")).to_contain_text("just now")


def test_it_shows_a_bad_filters_error(page: Any, live_server: Any) -> None:
    page.goto(f"{live_server.url}/?{DAY}")
    page.fill("#f-tz", "Mars/Olympus_Mons")
    page.click("#filters button[type=submit]")
    expect(page.locator("#error-tz")).to_contain_text("unknown time zone 'Mars/Olympus_Mons'")
    expect(page.locator(".field--tz")).to_have_class(re.compile("field--error"))
    expect(page.locator("#report")).to_have_count(0)


def test_it_fits_the_wall_display_on_a_laptop(page: Any, live_server: Any) -> None:
    page.goto(f"{live_server.url}/?{DAY}&granularity=PT1H&wall=1&auto=1")
    wait_for_chart(page, "chart-volume", 24)
    expect(page.locator("#filters")).to_be_hidden()
    expect(page.locator("#f-auto")).to_be_hidden()
    # What it shows is written on it, by name.
    expect(page.locator("#filter-summary")).to_be_visible()
    expect(page.locator("#filter-summary")).to_contain_text("All queues")
    # Tiles and all three charts on one 768-pixel screen, no scrolling.
    bottom = page.evaluate(
        "() => document.getElementById('chart-service').closest('figure').getBoundingClientRect().bottom"
    )
    assert bottom <= 768
    page.screenshot(path=str(SCREENSHOT_DIR / "dashboard-wall.png"))


def test_it_shows_a_failed_fetch_with_retry(page: Any, live_server: Any) -> None:
    page.goto(f"{live_server.url}/?{DAY}&view={BROKEN_VIEW}&source=graphql")
    expect(page.locator("#job-progress")).to_have_text(f"The fetch failed: {BROKEN_MESSAGE}")
    expect(page.locator("#retry")).to_be_visible()
    expect(page.locator("#report")).to_be_hidden()
    # Retry loads the page again, which starts a new fetch (the failed job freed its lock).
    page.click("#retry")
    expect(page.locator("#job-progress")).to_contain_text(re.compile(r"Queued|Fetching"))


def test_it_rereads_the_report_on_auto_refresh(page: Any, live_server: Any) -> None:
    query = f"{DAY}&granularity=PT1H"
    spec = spec_from_query(query)
    put_report(spec, conversations=10)
    page.clock.install()
    page.goto(f"{live_server.url}/?{query}&auto=1")
    total = page.locator('[data-kpi="conversations"] .kpi-value')
    before = total.inner_text()
    # The worker refreshed the report meanwhile; the next tick must show it, no reload.
    put_report(spec, conversations=50, as_of=time.time())
    page.clock.fast_forward("01:05")
    expect(total).not_to_have_text(before)
    assert page.url.endswith("auto=1")


BUCKETS_SHOWN = """() => getComputedStyle(document.getElementById('bucket-scroll'))
    .contentVisibility === 'visible'"""


def test_it_lays_the_bucket_table_out_after_the_charts(page: Any, live_server: Any) -> None:
    query = f"{DAY}&granularity=PT30M"
    put_report(spec_from_query(query))
    page.goto(f"{live_server.url}/?{query}")
    wait_for_chart(page, "chart-volume", 48)
    # Held back while the charts draw, then shown, with all its rows.
    page.wait_for_function(BUCKETS_SHOWN)
    expect(page.locator("#bucket-table tbody tr")).to_have_count(48)
    expect(page.locator("#bucket-table tbody tr").first).to_be_visible()
    marks = page.evaluate(
        "() => ['dashboard:charts', 'dashboard:bucket-table']"
        ".map(name => performance.getEntriesByName(name)[0].startTime)"
    )
    assert marks[0] <= marks[1]


def test_it_shows_the_bucket_table_when_the_script_does_not_run(
    page: Any, browser: Any, live_server: Any
) -> None:
    query = f"{DAY}&granularity=PT1H"
    put_report(spec_from_query(query))
    # dashboard.js fails to load: the stylesheet lets the table go after 2 s all the same.
    page.route("**/dashboard/dashboard.*js", lambda route: route.fulfill(status=404))
    page.goto(f"{live_server.url}/?{query}")
    expect(page.locator("#bucket-scroll")).to_have_class(re.compile("table-scroll--later"))
    page.wait_for_function(BUCKETS_SHOWN, timeout=5_000)
    # Scripts off: never held back.
    context = browser.new_context(java_script_enabled=False)
    try:
        plain = context.new_page()
        plain.goto(live_server.url + "/")
        plain.fill("#id_username", "supervisor")
        plain.fill("#id_password", PASSWORD)
        plain.click("button[type=submit]")
        plain.goto(f"{live_server.url}/?{query}")
        assert plain.evaluate(BUCKETS_SHOWN) is True
        expect(plain.locator("#bucket-table tbody tr").first).to_be_visible()
    finally:
        context.close()
