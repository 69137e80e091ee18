"""The browser revalidates /api/report by itself: a fetch() like the page's (dashboard.js
getJson) sends If-None-Match from its HTTP cache, gets a 304, and still reads the report."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.models import User

from dashboard import views
from tests.dashboard.helpers import DAY_QUERY, put_report, spec_from_query
from tests.dashboard.test_browser import browser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

__all__ = ["browser"]  # the module-scoped Chromium fixture, shared with test_browser
PASSWORD = "correct horse battery staple"

# The page's own request: dashboard.js getJson().
FETCH_LIKE_THE_PAGE = """async (url) => {
  const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
  const body = await response.json();
  return { status: response.status, buckets: body.report.buckets.length };
}"""


@pytest.fixture
def page(browser: Any, live_server: Any, settings: Any) -> Iterator[Any]:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    User.objects.create_user("supervisor", password=PASSWORD)
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", "supervisor")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    yield page
    context.close()


def test_the_browser_sends_if_none_match_and_reads_the_304_from_its_cache(
    page: Any, live_server: Any
) -> None:
    put_report(spec_from_query(DAY_QUERY))
    seen: list[tuple[str | None, int | None]] = []
    real = views._report_unchanged

    def recording(request: Any) -> Any:
        answer = real(request)
        seen.append((request.headers.get("If-None-Match"), answer and answer.status_code))
        return answer

    url = f"{live_server.url}/api/report?{DAY_QUERY}"
    with mock.patch.object(views, "_report_unchanged", recording):
        first = page.evaluate(FETCH_LIKE_THE_PAGE, url)
        second = page.evaluate(FETCH_LIKE_THE_PAGE, url)
    # fetch() shows the revalidated answer as the cached 200, body and all.
    assert first == second == {"status": 200, "buckets": 24}
    assert seen[0] == (None, None)
    assert seen[1][0] is not None and seen[1][0].startswith('W/"')
    assert seen[1][1] == 304
