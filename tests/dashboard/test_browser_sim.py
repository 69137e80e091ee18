"""The whole product in a browser, nothing stubbed but the broker: Chromium logs in, the page
starts a real fetch from the simulated org (served by the same live_server) through the
Genesys client, the normaliser and Redis, and draws what comes back."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.contrib.auth.models import User
from django.db import connection

from analytics_worker import fetch, redis_client
from analytics_worker.genesys.queues import queue_list
from analytics_worker.genesys.users import user_names_load
from analytics_worker.tasks import fetch_report_task, refresh_queues_task, refresh_users_task
from genesys_sim import org
from tests.dashboard.test_browser import (
    PASSWORD,
    SCREENSHOT_DIR,
    browser,
    expect,
    wait_for_chart,
)
from tests.helpers import REAL_REDIS_TEST_URL

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
__all__ = ["browser"]  # the module-scoped Chromium fixture, shared with test_browser

# The suite's Redis server (TEST_REDIS_URL), on a DB of the simulated org's own.
SIM_REDIS_URL = REAL_REDIS_TEST_URL.rsplit("/", 1)[0] + "/12"


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
    # Drawn: the tab says which report, not "Loading…".
    expect(page).to_have_title(re.compile(r"^\w{3} \d+ \w{3} \d\d:\d\d – now .* · Contact centre"))
    offered = page.locator('[data-kpi="offered"] .kpi-value').inner_text()
    assert int(offered.replace(",", "")) > 1000
    # The aggregates source gives the contact-centre KPIs.
    for kpi in ("offered", "answered", "service_level_pct", "aht"):
        expect(page.locator(f'[data-kpi="{kpi}"] .kpi-value')).not_to_have_text("n/a")
    expect(page.locator("#bucket-table tbody tr")).to_have_count(points)
    # Times read as m:ss on the axes, never raw seconds; lines are straight segments.
    ticks = page.evaluate(
        """() => ['chart-wait', 'chart-volume'].map(id => {
            const chart = Chart.getChart(document.getElementById(id));
            const axis = id === 'chart-wait' ? chart.scales.y : chart.scales.y1;
            return axis.ticks.map(t => t.label);
        })"""
    )
    for labels in ticks:
        assert labels and all(re.fullmatch(r"\d+:\d\d( h)?", label) for label in labels), labels
    # The time axis of 30-minute buckets is labelled on whole hours only.
    hours = page.evaluate(
        "() => Chart.getChart(document.getElementById('chart-volume')).scales.x.ticks"
        ".map(t => t.label).filter(Boolean)"
    )
    assert hours and all(re.search(r"\d\d:00$", label) for label in hours), hours
    tensions = page.evaluate(
        "() => Chart.getChart(document.getElementById('chart-wait')).data.datasets"
        ".map(d => d.tension)"
    )
    assert set(tensions) == {0}
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


# What the drill-down's listing shows of the group each breakdown's row is (its column).
DRILL_COLUMN = {"queue": 4, "agent": 5, "media": 2, "direction": 3}


@pytest.mark.parametrize("group", ["queue", "agent", "media", "direction"])
def test_a_supervisor_breaks_a_day_down_and_opens_a_rows_conversations(
    page: Any, live_server: Any, monkeypatch: Any, group: str
) -> None:
    # The names a worker would load into the cache, loaded at once.
    monkeypatch.setattr(refresh_queues_task, "apply_async", lambda **_: queue_list())
    monkeypatch.setattr(refresh_users_task, "apply_async", lambda **_: user_names_load())
    queue_list()
    user_names_load()
    page.goto(f"{live_server.url}/?range=yesterday&granularity=PT1H&group={group}")
    wait_for_chart(page, "chart-groups")
    rows = page.locator("#groups-table tbody tr")
    expect(rows.first).to_be_visible()
    labels = page.locator("#groups-table tbody th a").all_inner_texts()
    names = {
        "queue": {q.name for q in org.QUEUES},
        "agent": {a.name for a in org.AGENTS},
        "media": {"Voice", "Callback", "Chat", "Email", "Message"},
        "direction": {"Inbound", "Outbound"},
    }[group]
    # By name, never an id.
    assert labels and set(labels) <= names, labels
    lines = page.evaluate(
        "() => Chart.getChart(document.getElementById('chart-groups')).data.datasets.length"
    )
    assert lines == min(len(labels), 8) + (len(labels) > 8)
    if group != "agent":
        # The total row is the report's own offered (summed counts).
        total = page.locator("#groups-table tfoot td").first.inner_text()
        assert total == page.locator('[data-kpi="offered"] .kpi-value').inner_text()
    # Sorted from the keyboard: the first column's button, focused, Enter.
    page.locator("#groups-table thead button.sort").first.focus()
    page.keyboard.press("Enter")
    sorted_labels = page.locator("#groups-table tbody th a").all_inner_texts()
    assert sorted_labels == sorted(labels, key=str.lower, reverse=True)
    SCREENSHOT_DIR.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT_DIR / f"breakdown-{group}.png"), full_page=True)

    chosen = sorted_labels[0]
    page.locator("#groups-table tbody th a", has_text=chosen).first.click()
    expect(page.locator("#conversation-table")).to_be_visible()
    cells = page.locator(
        f"#conversation-table tbody tr td:nth-child({DRILL_COLUMN[group]})"
    ).all_inner_texts()
    assert cells and all(chosen in cell for cell in cells), (chosen, cells[:5])
    page.screenshot(path=str(SCREENSHOT_DIR / f"drill-{group}.png"), full_page=True)


def test_a_click_on_a_bar_opens_the_conversations_of_its_bucket(page: Any, live_server: Any):
    page.goto(f"{live_server.url}/?range=yesterday&granularity=PT1H")
    wait_for_chart(page, "chart-volume")
    page.locator("#chart-volume").scroll_into_view_if_needed()
    # The 11:00 bar: clicked where Chart.js drew it.
    box = page.evaluate(
        """() => {
            const chart = Chart.getChart(document.getElementById('chart-volume'));
            const bar = chart.getDatasetMeta(0).data[11];
            const rect = chart.canvas.getBoundingClientRect();
            return {x: rect.left + bar.x, y: rect.top + (bar.y + bar.base) / 2};
        }"""
    )
    page.mouse.click(box["x"], box["y"])
    expect(page.locator("#drill-summary")).to_contain_text("11:00–12:00")
    expect(page.locator("#conversation-table")).to_be_visible()
    starts = page.locator("#conversation-table tbody time").all_inner_texts()
    assert starts and all(" 11:" in start for start in starts), starts[:5]


def test_the_queue_picker_fills_in_once_the_names_arrive_and_searches_them(
    page: Any, live_server: Any, monkeypatch: Any, fake_redis: Any
) -> None:
    # Cold queue cache: the page comes with an ids box; a worker (here a thread, a moment
    # later) loads the names, and the picker replaces the box without a reload.
    def load_later(**_: Any) -> None:
        timer = threading.Timer(1.5, queue_list)
        timer.daemon = True
        timer.start()

    monkeypatch.setattr(refresh_queues_task, "apply_async", load_later)
    # The login's landing page asked already (to the broker this test has none of): forget it.
    for key in fake_redis.scan_iter(
        match=redis_client.throttle_key("queues-refresh", 0)[:-1] + "*"
    ):
        fake_redis.delete(key)
    page.goto(f"{live_server.url}/?range=yesterday&granularity=PT1H")
    expect(page.locator("#f-queue")).to_be_visible()
    expect(page.locator("#queue-picker")).to_be_visible(timeout=15_000)
    page.locator("#queue-summary").click()
    boxes = page.locator("#queue-list input[type=checkbox]")
    expect(boxes).to_have_count(len(org.QUEUES))
    page.fill("#queue-search", "sup")
    visible = page.locator("#queue-list label:visible").all_inner_texts()
    assert [name.strip() for name in visible] == ["Support"]
    page.locator("#queue-list label:visible input").check()
    expect(page.locator("#queue-picked")).to_have_text("Support")
    page.click("#filters button[type=submit]")
    page.wait_for_url(re.compile(r"queue=" + org.SUPPORT_ID))
    wait_for_chart(page, "chart-volume")
    expect(page.locator("#queue-summary")).to_have_text("1 selected")


def test_a_phone_sees_nothing_wider_than_its_screen_and_folded_filters(
    page: Any, live_server: Any
) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/?range=yesterday&granularity=PT1H&group=queue")
    wait_for_chart(page, "chart-groups")
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], widths
    expect(page.locator("#filters")).to_be_hidden()
    page.click("#filters-toggle")
    expect(page.locator("#filters")).to_be_visible()
    expect(page.locator("#filters-toggle")).to_have_attribute("aria-expanded", "true")
    SCREENSHOT_DIR.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT_DIR / "dashboard-390px.png"), full_page=True)


def test_the_dark_theme_darkens_the_page_and_its_charts(browser: Any, page: Any, live_server: Any):
    page.emulate_media(color_scheme="dark")
    page.goto(f"{live_server.url}/?range=yesterday&granularity=PT1H")
    wait_for_chart(page, "chart-volume")
    colours = page.evaluate(
        """() => ({
            body: getComputedStyle(document.body).backgroundColor,
            card: getComputedStyle(document.querySelector('.kpi')).backgroundColor,
            ink: getComputedStyle(document.querySelector('.kpi-value')).color,
            ticks: Chart.defaults.color,
        })"""
    )

    def luminance(css: str) -> float:
        red, green, blue = (int(v) for v in re.findall(r"\d+", css)[:3])
        return 0.2126 * red + 0.7152 * green + 0.0722 * blue

    assert luminance(colours["body"]) < 40 and luminance(colours["card"]) < 50
    assert luminance(colours["ink"]) > 200  # light text on the dark cards
    assert colours["ticks"] == "#a7b3c2"  # the chart text follows the theme
    SCREENSHOT_DIR.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT_DIR / "dashboard-dark.png"), full_page=True)


AXE = Path(__file__).resolve().parents[1] / "assets" / "axe-core" / "axe.min.js"


def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical violations of the page as it stands (WCAG 2.x A and AA),
    one line each. axe is evaluated into the page by the browser's own protocol: the page's
    Content-Security-Policy stays on."""
    page.evaluate(AXE.read_text())
    found = page.evaluate(
        """() => axe.run(document, {
            runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
            resultTypes: ['violations'],
        }).then(r => r.violations.map(v => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ')),
        })))"""
    )
    return [
        f"{v['impact']}: {v['id']} ({v['help']}) at {', '.join(v['nodes'])}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_dashboard_and_the_live_page_pass_axe(page: Any, live_server: Any, scheme: str):
    page.emulate_media(color_scheme=scheme)
    page.goto(f"{live_server.url}/?range=yesterday&granularity=PT1H&group=queue")
    wait_for_chart(page, "chart-groups")
    assert serious_violations(page) == []
    page.goto(f"{live_server.url}/live")
    expect(page.locator("h1, h2").first).to_be_visible()
    assert serious_violations(page) == []


def test_the_login_page_passes_axe(browser: Any, live_server: Any) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    try:
        login = context.new_page()
        login.goto(f"{live_server.url}/accounts/login/")
        assert serious_violations(login) == []
    finally:
        context.close()


def test_a_supervisor_compares_yesterday_with_the_day_before(page: Any, live_server: Any):
    page.goto(f"{live_server.url}/?range=yesterday&granularity=PT1H")
    wait_for_chart(page, "chart-volume")
    page.select_option("#f-compare", "day")
    page.wait_for_url(re.compile(r"compare=day"))
    # The day before loads as a report of its own; the page shows it when it lands.
    expect(page.locator('[data-kpi="offered"] .kpi-delta')).to_contain_text(
        "vs the day before", timeout=30_000
    )
    styles = page.evaluate(
        "() => Chart.getChart(document.getElementById('chart-volume')).data.datasets"
        ".map(d => d.borderDash && d.borderDash.length > 0)"
    )
    assert styles[-1] is True  # the day before, dashed
    SCREENSHOT_DIR.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT_DIR / "dashboard-compare.png"), full_page=True)
