"""Bench 6, time to chart: a cached report's dashboard page in Chromium (Playwright), from
navigation start to the charts painted.

A script injected before the page's own registers a Chart.js plugin as soon as Chart.js loads:
`afterDraw` marks each chart's first frame (then one requestAnimationFrame later, when that frame
has been handed to the screen: "painted"); `afterRender` marks the end of its animation
("settled"). Times are performance.now(), whose zero is navigation start. Each load is in a new
browser context: cold HTTP cache, logged in by the session cookie.

Ours: the dashboard page (/?...), 7 days at 30 min, report cached (KPI tiles, three charts and
the bucket table). Baseline: the tutorial's page for the same 7 days (bench/baseline.py): raw
list from Redis, parsed and normalised on the server, one chart inline.
"""

from __future__ import annotations

import os
from typing import Any

from bench import stack
from bench.common import BenchResult, BenchSkipped, Table, fmt_ms, fmt_ratio, ratio, repeat

NAME = "browser"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PER_DAY = 2000
DAYS = 7
TARGET_SECONDS = 1.0

# Runs before any of the page's scripts. The UMD build of Chart.js assigns window.Chart: the
# setter registers the plugin on it at that moment.
PAINT_PROBE = """
(() => {
  const bench = (window.__bench = { charts: 0, firstDraw: [], painted: [], settled: [] });
  const seen = new WeakSet();
  const done = new WeakSet();
  const plugin = {
    id: "benchPaint",
    beforeInit() { bench.charts += 1; },
    afterDraw(chart) {
      if (seen.has(chart)) return;
      seen.add(chart);
      bench.firstDraw.push(performance.now());
      requestAnimationFrame(() => bench.painted.push(performance.now()));
    },
    afterRender(chart) {
      if (done.has(chart) || chart.isAnimating?.()) return;
      done.add(chart);
      bench.settled.push(performance.now());
    },
  };
  let chartClass;
  Object.defineProperty(window, "Chart", {
    configurable: true,
    get() { return chartClass; },
    set(value) { chartClass = value; value.register(plugin); },
  });
})();
"""
# Every chart created has painted and finished its animation, and the bucket table, which
# dashboard.js lays out after the charts, is in (its performance mark; the tutorial's page has
# no such table).
ALL_SETTLED = (
    "() => window.__bench && __bench.charts > 0 && __bench.painted.length >= __bench.charts"
    " && __bench.settled.length >= __bench.charts"
    " && (!document.getElementById('bucket-scroll')"
    " || performance.getEntriesByName('dashboard:bucket-table').length > 0)"
)
# bucket_table: the bucket table laid out (0 on a page without one); charts_js: dashboard.js
# drawing the charts (the mark's detail; 0 on the tutorial's page).
TIMINGS = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const mark = (name) => performance.getEntriesByName(name)[0];
  return {
    response_end: nav.responseEnd,
    dom_content_loaded: nav.domContentLoadedEventEnd,
    painted: Math.max(...__bench.painted),
    settled: Math.max(...__bench.settled),
    charts: __bench.charts,
    bucket_table: mark("dashboard:bucket-table") ? mark("dashboard:bucket-table").startTime : 0,
    charts_js: mark("dashboard:charts") ? mark("dashboard:charts").detail : 0,
  };
}"""


def run(st: stack.Stack) -> BenchResult:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise BenchSkipped("Playwright is not installed (requirements-dev.txt)") from None
    if not os.path.exists(CHROMIUM):
        raise BenchSkipped(f"no Chromium at {CHROMIUM}: apt-get install chromium")
    stack.server_start(st, per_day=PER_DAY)
    urls = _seed(st)
    runs = 1 if st.quick else max(st.runs, 5)
    found: dict[str, dict[str, float]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            _load(browser, st, urls["ours"])  # a first load: Chromium's own start-up costs
            for name in ("ours", "baseline"):
                found[name] = repeat(runs, lambda name=name: _load(browser, st, urls[name]))
        finally:
            browser.close()
    table = Table(
        f"6. Cached report in Chromium: navigation start to charts drawn ({DAYS} days at 30 min, "
        f"{PER_DAY:,}/day), cold browser cache, median of {runs}",
        [
            "page",
            "charts",
            "HTML received",
            "DOM ready",
            "charts' script",
            "painted",
            "settled",
            "bucket table",
            "vs baseline",
        ],
    )
    for name in ("ours", "baseline"):
        item = found[name]
        table.add(
            name,
            int(item["charts"]),
            fmt_ms(item["response_end"] / 1000),
            fmt_ms(item["dom_content_loaded"] / 1000),
            fmt_ms(item["charts_js"] / 1000) if item["charts_js"] else "",
            fmt_ms(item["painted"] / 1000),
            fmt_ms(item["settled"] / 1000),
            fmt_ms(item["bucket_table"] / 1000) if item["bucket_table"] else "",
            fmt_ratio(ratio(item["painted"], found["baseline"]["painted"])),
        )
    table.notes.append(
        "painted: the frame after every chart's first draw; settled: every chart's animation "
        "over (ours draws without animation, the tutorial's animates for Chart.js's default "
        "1,000 ms); charts' script: dashboard.js building and drawing the charts; bucket table: "
        "our page lays its table out after the charts' frame, this is when it is done."
    )
    result = BenchResult(NAME, tables=[table], figures=found)
    painted = found["ours"]["painted"] / 1000
    result.target("chart drawn under 1 s", fmt_ms(painted), painted < TARGET_SECONDS)
    return result


def _seed(st: stack.Stack) -> dict[str, str]:
    from bench import baseline, data

    first, last = stack.past_days(DAYS)
    params = stack.report_params(first=first, last=last)
    spec = stack.report_spec(params)
    stack.report_seed(spec)
    start, end = (moment.strftime("%Y-%m-%dT%H:%M:%SZ") for moment in (spec.start, spec.end))
    variables = baseline.build_analytics_query(view_id="all", start_date=start, end_date=end)
    raw, _count = data.raw_list_json(start=spec.start, end=spec.end, per_day=st.per_day)
    stack.redis_db("baseline").set(baseline.cache_key(variables), raw)
    baseline_query = stack.query_string({"viewId": "all", "startDate": start, "endDate": end})
    return {
        "ours": f"{st.base_url}/?{stack.query_string(params)}",
        "baseline": f"{st.base_url}/bench/baseline/page?{baseline_query}",
    }


def _load(browser: Any, st: stack.Stack, url: str) -> dict[str, float]:
    from django.conf import settings

    context = browser.new_context(viewport={"width": 1366, "height": 768})
    try:
        context.add_cookies(
            [
                {
                    "name": settings.SESSION_COOKIE_NAME,
                    "value": st.session_cookie,
                    "url": st.base_url,
                }
            ]
        )
        context.add_init_script(PAINT_PROBE)
        page = context.new_page()
        response = page.goto(url)
        if response is None or response.status != 200:
            raise RuntimeError(f"{url} answered {response.status if response else 'nothing'}")
        page.wait_for_function(ALL_SETTLED, timeout=30_000)
        return page.evaluate(TIMINGS)
    finally:
        context.close()
