"""The live wallboard in a real browser (Chromium through Playwright, against live_server).

Genesys here is the simulated org replayed at a busy moment: each poll asks
genesys_sim.observations for the org at a chosen moment of a busy day, and shifts its times to
the present, so the page's ticking longest wait is the org's own. The poller runs in the test
(live.live_poll), as beat would run it; the page polls /api/live by itself and never reloads.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import responses
from django.contrib.auth.models import User

from analytics_worker import cache, live
from dashboard.models import LiveThreshold, WallboardLink
from genesys_sim import observations, org
from tests.dashboard.test_browser import PASSWORD, SCREENSHOT_DIR, browser, expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OBSERVATIONS = "http://genesys.test/api/v2/analytics/queues/observations/query"
QUEUES = "http://genesys.test/api/v2/routing/queues"
BUSY_DAY = datetime(2024, 5, 2, 11, 0, tzinfo=UTC)
THREE = (org.SALES_ID, org.SUPPORT_ID, org.BILLING_ID)
# A queue the org does not have, to hold numbers too big for their tiles.
HUGE_ID = "ffffffff-0000-4000-8000-000000000001"
LONG_NAME = "Customer Retention and Win-back Escalations (EMEA)"

__all__ = ["browser"]  # the module-scoped Chromium fixture, shared with test_browser


class Replay:
    """The simulated org at `moment`, its times shifted to when it is asked."""

    def __init__(self) -> None:
        self.moment = BUSY_DAY

    @property
    def at_ms(self) -> int:
        return int(self.moment.timestamp() * 1000)

    def answer(self, request: Any) -> tuple[int, dict[str, str], str]:
        query = observations.observation_query_read(orjson.loads(request.body))
        results = observations.observation_results(query, at_ms=self.at_ms)
        shift = timedelta(seconds=time.time() - self.moment.timestamp())
        for result in results:
            for item in result["data"]:
                for seen in item.get("observations", ()):
                    then = datetime.fromisoformat(seen["observationDate"]) + shift
                    seen["observationDate"] = then.isoformat()
            if result["group"] == {"queueId": HUGE_ID}:
                since = datetime.now(UTC) - timedelta(seconds=3753)
                result["data"] = [
                    {"metric": "oWaiting", "stats": {"count": 1234},
                     "observations": [{"observationDate": since.isoformat()}]},
                    {"metric": "oInteracting", "stats": {"count": 888}},
                    {"metric": "oUserRoutingStatuses", "qualifier": "OFF_QUEUE",
                     "stats": {"count": 1200}},
                ]  # fmt: skip
        return 200, {}, orjson.dumps({"results": results}).decode()


@pytest.fixture
def replay(api: responses.RequestsMock, settings, enqueued) -> Replay:
    settings.GENESYS_SIM_CONVERSATIONS_PER_DAY = 20_000
    settings.LIVE_POLL_SECONDS = 4
    settings.LIVE_PAGE_POLL_SECONDS = 1
    settings.REPORT_DEFAULT_TIME_ZONE = "UTC"
    replay = Replay()
    api.add_callback(responses.POST, OBSERVATIONS, callback=replay.answer)
    entities = [{"id": q.id, "name": q.name} for q in org.QUEUES]
    entities.append({"id": HUGE_ID, "name": LONG_NAME})
    api.get(QUEUES, json={"entities": entities, "pageCount": 1})
    # The browser's own requests go to live_server over a socket, not through `responses`.
    api.add_passthru("http://localhost")
    return replay


def poll() -> None:
    live.get_redis().delete(live.live_poll_slot_key())
    assert live.live_poll() == "polled"


def _by_hand(at_ms: int) -> dict[str, list[int]]:
    """Each queue's waiting legs' enter times at `at_ms`, from the conversations (the sim's
    rules: answered legs ring their agent for their last 5 s, and then do not wait)."""
    waiting: dict[str, list[int]] = {q.id: [] for q in org.QUEUES}
    start = datetime.fromtimestamp(at_ms / 1000 - 17 * 3600, UTC)
    for conversation in org.iter_conversations(
        start=start, end=datetime.fromtimestamp(at_ms / 1000 + 0.001, UTC)
    ):
        for leg in conversation.legs:
            ring = min(5_000, leg.wait_ms) if leg.outcome == "answered" else 0
            if leg.offered and leg.enter_ms <= at_ms < leg.leave_ms - ring:
                waiting[leg.queue_id].append(leg.enter_ms)
    return waiting


def _moment_with_a_long_wait(settings: Any) -> tuple[datetime, int]:
    """A moment when Sales's oldest waiting call has waited a while and still waits 15 s on."""
    settings.GENESYS_SIM_CONVERSATIONS_PER_DAY = 20_000
    moment = BUSY_DAY
    for _ in range(240):
        at_ms = int(moment.timestamp() * 1000)
        now, later = _by_hand(at_ms)[org.SALES_ID], _by_hand(at_ms + 15_000)[org.SALES_ID]
        if now and min(now) in later and at_ms - min(now) > 5_000:
            return moment, (at_ms - min(now)) // 1000
        moment += timedelta(seconds=30)
    raise AssertionError("no moment with a long wait in Sales")


def _today_cached(queue_id: str, *, offered: int, answered: int) -> None:
    now = time.time()
    report = {
        "source": "aggregates",
        "service_level_goal": {"percentage": 0.8, "duration_ms": 20000},
        "totals": {"offered": offered, "answered": answered, "abandoned": offered - answered - 4,
                   "sl_numerator": int(answered * (0.83 + 0.05 * (offered % 3))), "sl_denominator": offered - 4},
    }  # fmt: skip
    cache.result_put(
        report_key=live.live_today_spec(queue_id, now=now).key, payload=orjson.dumps(report),
        as_of=now, fresh_seconds=600, ttl_seconds=600,
    )  # fmt: skip


def _login(browser: Any, live_server: Any, **context: Any) -> Any:
    User.objects.create_user("supervisor", password=PASSWORD)
    page = browser.new_context(**context).new_page()
    page.set_default_timeout(20_000)
    page.csp_violations = []
    page.on(
        "console",
        lambda m: "Content Security Policy" in m.text and page.csp_violations.append(m.text),
    )
    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", "supervisor")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    return page


def _waiting(page: Any, queue_id: str) -> Any:
    return page.locator(f'.tile[data-queue="{queue_id}"] [data-metric="waiting"]')


def test_a_supervisor_sees_the_queues_move_and_a_tile_turn_red(
    browser, live_server, replay, settings
):
    moment, longest = _moment_with_a_long_wait(settings)
    replay.moment = moment
    # Red once Sales's oldest call has waited 5 s longer than it has now; nothing else flags.
    LiveThreshold.objects.create(
        queue_id=org.SALES_ID, longest_wait_amber_seconds=longest + 5,
        longest_wait_red_seconds=longest + 5, no_idle_agent_level="off",
    )  # fmt: skip
    page = _login(browser, live_server, viewport={"width": 1366, "height": 768})
    query = "&".join(f"queue={q}" for q in THREE)
    page.goto(f"{live_server.url}/live?{query}")
    page.evaluate("window.notReloaded = true")
    expect(page.locator("#live-banner")).to_contain_text("Starting live data")

    poll()  # the page's first read made it a watched view
    # By name, once the poller has read the queue list (tiles sorted by name too).
    expect(page.locator("#live-filter")).to_have_text("Queues: Billing, Sales, Support")
    expected = _by_hand(replay.at_ms)
    for queue_id in THREE:
        expect(_waiting(page, queue_id)).to_have_text(str(len(expected[queue_id])))
    sales = page.locator(f'.tile[data-queue="{org.SALES_ID}"]')
    expect(sales).not_to_have_class("tile tile--red")
    longest_cell = sales.locator('[data-metric="longest"]')
    first = longest_cell.inner_text()
    page.wait_for_timeout(2200)
    assert longest_cell.inner_text() != first  # it ticks between polls

    replay.moment = moment + timedelta(seconds=15)
    poll()
    expect(sales).to_have_class("tile tile--red")
    expect(sales.locator(".reasons")).to_contain_text("Longest wait over")

    # A minute on, calls have arrived and been answered: the counts follow the org.
    seen = set()
    for minutes in (1, 2, 3):
        replay.moment = moment + timedelta(minutes=minutes)
        poll()
        expected = _by_hand(replay.at_ms)
        for queue_id in THREE:
            expect(_waiting(page, queue_id)).to_have_text(str(len(expected[queue_id])))
        seen.add(tuple(len(expected[q]) for q in THREE))
    assert len(seen) > 1
    assert page.evaluate("window.notReloaded") is True  # updated in place, never reloaded
    SCREENSHOT_DIR.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT_DIR / "live-supervisor-1366x768.png"))

    # The poller stops: past 3 polls (12 s here) the page says so in large type.
    expect(page.locator("#live-banner")).to_contain_text("Live data stopped at", timeout=30_000)
    expect(sales).to_have_class("tile tile--red tile--stale")
    font = page.eval_on_selector("#live-banner", "e => parseFloat(getComputedStyle(e).fontSize)")
    assert font >= 24
    assert page.csp_violations == []


@pytest.mark.parametrize(
    "width,height", [(1920, 1080), (3840, 2160), (1366, 768)], ids=["1080p", "4k", "laptop"]
)
def test_a_tv_with_a_wallboard_link_fits_every_value(
    browser, live_server, replay, width, height, settings
):
    settings.GENESYS_SIM_CONVERSATIONS_PER_DAY = 3_000
    for number, queue in enumerate(org.QUEUES):
        _today_cached(queue.id, offered=412 + 97 * number, answered=380 + 90 * number)
    link = WallboardLink(label="Floor 2 TV", queue_ids=[], dark=True)
    token = link.token_issue()
    link.save()
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{live_server.url}/w/{token}")
    expect(page.locator(".live-title")).to_contain_text("Floor 2 TV")
    poll()
    expect(page.locator(".tile")).to_have_count(len(org.QUEUES) + 1)
    expect(_waiting(page, HUGE_ID)).to_have_text("1234")
    expect(page.locator(f'.tile[data-queue="{HUGE_ID}"] [data-metric="longest"]')).to_contain_text(
        "1:02:"
    )
    page.wait_for_timeout(500)  # one resize-fit pass
    overflowing = page.evaluate(
        """() => [...document.querySelectorAll('.fit')]
            .filter(e => e.scrollWidth > e.clientWidth + 1)
            .map(e => e.textContent)"""
    )
    assert overflowing == []
    # Readable across the room: the waiting count scales with the screen.
    big = page.eval_on_selector(
        f'.tile[data-queue="{org.SALES_ID}"] [data-metric="waiting"]',
        "e => parseFloat(getComputedStyle(e).fontSize)",
    )
    assert big >= height / 20, big
    # Everything on one screen, nothing cut at the sides.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    SCREENSHOT_DIR.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT_DIR / f"live-{width}x{height}.png"))
    # No login and no session: the other pages still ask for one.
    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url
    context.close()
