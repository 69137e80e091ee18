"""The whole product in a browser, nothing stubbed but the broker: Chromium logs in, the page
starts a real fetch from the simulated org (served by the same live_server) through the
Genesys client, the normaliser and Redis, and draws what comes back."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.contrib.auth.models import User
from django.db import connection

from analytics_worker import fetch
from analytics_worker.tasks import fetch_report_task
from tests.dashboard.test_browser import (
    PASSWORD,
    SCREENSHOT_DIR,
    browser,
    expect,
    wait_for_chart,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
__all__ = ["browser"]  # the module-scoped Chromium fixture, shared with test_browser

SIM_REDIS_URL = "redis://127.0.0.1:6379/12"


@pytest.fixture
def page(browser: Any, live_server: Any, settings: Any, monkeypatch: Any) -> Iterator[Any]:
    sim_redis = redis.Redis.from_url(SIM_REDIS_URL)
    sim_redis.flushdb()
    settings.GENESYS_SIM_REDIS_URL = SIM_REDIS_URL
    settings.GENESYS_API_URL = settings.GENESYS_LOGIN_URL = f"{live_server.url}/sim"
    settings.GENESYS_CLIENT_ID = settings.GENESYS_SIM_CLIENT_ID
    settings.GENESYS_CLIENT_SECRET = settings.GENESYS_SIM_CLIENT_SECRET
    settings.ANALYTICS_SOURCE = "aggregates"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    threads: list[threading.Thread] = []

    def run_job(spec_data: dict[str, Any], job_id: str) -> None:
        try:
            fetch.report_job_run(spec_data=spec_data, job_id=job_id)
        finally:
            connection.close()

    def enqueue_in_thread(*, kwargs: dict[str, Any], **_: Any) -> None:
        # The worker's job, run in a thread: the fetch itself is the real one.
        thread = threading.Thread(
            target=run_job, args=(kwargs["spec"], kwargs["job_id"]), daemon=True
        )
        threads.append(thread)
        thread.start()

    monkeypatch.setattr(fetch_report_task, "apply_async", enqueue_in_thread)
    User.objects.create_user("supervisor", password=PASSWORD, is_staff=True)
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(live_server.url + "/")
    page.fill("#id_username", "supervisor")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    yield page
    context.close()
    for thread in threads:
        thread.join(timeout=20)
    sim_redis.flushdb()


def test_a_new_user_sees_the_simulated_orgs_last_24_hours(page: Any, live_server: Any) -> None:
    points = wait_for_chart(page, "chart-volume")
    assert points == 48  # "Last 24 hours" is 24 hours of 30-minute buckets
    offered = page.locator('[data-kpi="offered"] .kpi-value').inner_text()
    assert int(offered.replace(",", "")) > 1000
    # The aggregates source gives the contact-centre KPIs.
    for kpi in ("offered", "answered", "service_level_pct", "aht"):
        expect(page.locator(f'[data-kpi="{kpi}"] .kpi-value')).not_to_have_text("n/a")
    expect(page.locator("#bucket-table tbody tr")).to_have_count(points)
    SCREENSHOT_DIR.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT_DIR / "dashboard-sim.png"), full_page=True)


def test_filters_reach_the_simulated_org(page: Any, live_server: Any) -> None:
    wait_for_chart(page, "chart-volume")
    total = page.locator('[data-kpi="offered"] .kpi-value').inner_text()
    page.goto(f"{live_server.url}/?range=last_24h&type=voice&tz=Asia/Kolkata&granularity=PT1H")
    wait_for_chart(page, "chart-volume")
    voice = page.locator('[data-kpi="offered"] .kpi-value').inner_text()
    assert 0 < int(voice.replace(",", "")) < int(total.replace(",", ""))
    labels = page.evaluate(
        "() => Chart.getChart(document.getElementById('chart-volume')).data.labels"
    )
    # India's hours start at :30 UTC; the labels are its own wall-clock hours.
    assert all(re.fullmatch(r"(\w{3} \d+ \w{3} )?\d\d:00", label) for label in labels), labels
