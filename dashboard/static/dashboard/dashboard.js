/* The dashboard page: filter form, charts, job polling, auto-refresh and the wall display.
 *
 * No framework and no build step. Data arrives only from the page's json_script blocks
 * (#page-config, #report-data) and the JSON API; the Content-Security-Policy forbids inline
 * script. Bucket "start" strings are already in the report's time zone (with their offset) and
 * are only ever sliced as text, never converted with the browser's zone.
 */
(function () {
  "use strict";

  const config = readJson("page-config") || {};
  const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const NA = "n/a";
  const charts = {};
  // Exposed for debugging and the browser tests.
  window.dashboardCharts = charts;

  let polling = false; // one job poller at a time
  let asOfEpoch = config.asOfEpoch || null;
  let autoTimer = null;

  function readJson(id) {
    const element = document.getElementById(id);
    return element ? JSON.parse(element.textContent) : null;
  }

  function $(id) {
    return document.getElementById(id);
  }

  function sleep(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  // --- derived metrics (mirror dashboard/metrics.py) ------------------------------------------

  function num(bucket, name) {
    const value = bucket[name];
    return typeof value === "number" ? value : null;
  }

  function ratio(numerator, denominator) {
    return numerator === null || !denominator ? null : numerator / denominator;
  }

  function percent(numerator, denominator) {
    const value = ratio(numerator, denominator);
    return value === null ? null : value * 100;
  }

  function derive(b) {
    return {
      avg_duration: ratio(num(b, "duration_sum"), b.duration_count),
      avg_wait: ratio(num(b, "wait_sum"), b.wait_count),
      avg_hold: ratio(num(b, "hold_sum"), b.hold_count),
      abandon_pct: percent(num(b, "abandoned"), b.offered),
      service_level_pct: percent(num(b, "answered_in_sl"), b.answered),
      asa: ratio(num(b, "answer_sum"), b.answered),
      aht: ratio(num(b, "handle_sum"), b.handle_count),
    };
  }

  function hasContactCentreMetrics(report) {
    const totals = report.totals || {};
    return "offered" in totals || "answered" in totals;
  }

  function formatDuration(seconds) {
    if (seconds === null || seconds === undefined) return NA;
    const whole = Math.round(seconds);
    if (whole < 60) return whole + " s";
    if (whole < 3600) return Math.floor(whole / 60) + " m " + String(whole % 60).padStart(2, "0") + " s";
    return Math.floor(whole / 3600) + " h " + String(Math.floor((whole % 3600) / 60)).padStart(2, "0") + " m";
  }

  function formatPercent(value) {
    return value === null || value === undefined ? NA : value.toFixed(1) + " %";
  }

  function formatCount(value) {
    return value === null || value === undefined ? NA : Math.round(value).toLocaleString("en-GB");
  }

  function round1(value) {
    return value === null ? null : Math.round(value * 10) / 10;
  }

  // --- labels: text slices of the bucket's own local time ---------------------------------------

  function dayLabel(iso) {
    const year = Number(iso.slice(0, 4));
    const month = Number(iso.slice(5, 7));
    const day = Number(iso.slice(8, 10));
    // Date.UTC only to find the weekday of that calendar date: no zone is involved.
    const weekday = new Date(Date.UTC(year, month - 1, day)).getUTCDay();
    return DAYS[weekday] + " " + day + " " + MONTHS[month - 1];
  }

  function spansDays(buckets) {
    return new Set(buckets.map(function (b) { return b.start.slice(0, 10); })).size > 1;
  }

  function bucketLabel(iso, granularity, multiDay) {
    if (granularity === "P1D") return dayLabel(iso);
    const time = iso.slice(11, 16);
    return multiDay ? dayLabel(iso) + " " + time : time;
  }

  function bucketTitle(bucket, granularity) {
    const offset = bucket.start.slice(19) || "Z";
    if (granularity === "P1D") return dayLabel(bucket.start) + " (UTC" + offset + ")";
    return dayLabel(bucket.start) + " " + bucket.start.slice(11, 16) + "–" +
      bucket.end.slice(11, 16) + " (UTC" + offset + ")";
  }

  function clockIn(timeZone, epochSeconds) {
    // The "as of" time in the report's zone (explicit timeZone, not the browser's).
    return new Intl.DateTimeFormat("en-GB", {
      timeZone: timeZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }).format(new Date(epochSeconds * 1000));
  }

  function momentIn(timeZone, iso) {
    const parts = new Intl.DateTimeFormat("en-GB", {
      timeZone: timeZone, weekday: "short", day: "numeric", month: "short",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }).formatToParts(new Date(iso));
    const part = function (type) {
      const found = parts.find(function (p) { return p.type === type; });
      return found ? found.value : "";
    };
    return part("weekday") + " " + part("day") + " " + part("month") + " " + part("hour") + ":" + part("minute");
  }

  function ageLabel(seconds) {
    const minutes = Math.floor(Math.max(seconds, 0) / 60);
    if (minutes < 1) return "just now";
    if (minutes < 120) return minutes + " min ago";
    return Math.floor(minutes / 60) + " h ago";
  }

  function updateAsOf() {
    const element = $("as-of");
    if (!element || !asOfEpoch) return;
    element.textContent = "as of " + clockIn(config.timeZone, asOfEpoch) + ", " +
      ageLabel(Date.now() / 1000 - asOfEpoch);
  }

  // --- KPI tiles and bucket table ---------------------------------------------------------------

  function kpiTiles(report) {
    const t = report.totals || {};
    const d = derive(t);
    return [
      ["conversations", "Conversations", formatCount(num(t, "conversations")), ""],
      ["avg_duration", "Avg duration", formatDuration(d.avg_duration), ""],
      ["avg_wait", "Avg wait", formatDuration(d.avg_wait), ""],
      ["avg_hold", "Avg hold", formatDuration(d.avg_hold), ""],
      ["offered", "Offered", formatCount(num(t, "offered")), ""],
      ["answered", "Answered", formatCount(num(t, "answered")), ""],
      ["abandon_pct", "Abandon %", formatPercent(d.abandon_pct), "abandoned ÷ offered"],
      ["service_level_pct", "Service level %", formatPercent(d.service_level_pct), "in target ÷ answered"],
      ["asa", "ASA", formatDuration(d.asa), "speed of answer"],
      ["aht", "AHT", formatDuration(d.aht), "handle time"],
    ];
  }

  function el(tag, className, text) {
    const element = document.createElement(tag);
    if (className) element.className = className;
    if (text !== undefined) element.textContent = text;
    return element;
  }

  function renderKpis(report) {
    const container = $("kpis");
    if (!container) return;
    container.replaceChildren.apply(container, kpiTiles(report).map(function (tile) {
      const box = el("div", tile[2] === NA ? "kpi kpi--na" : "kpi");
      box.dataset.kpi = tile[0];
      box.append(el("div", "kpi-label", tile[1]), el("div", "kpi-value", tile[2]));
      if (tile[3]) box.append(el("div", "kpi-hint", tile[3]));
      return box;
    }));
  }

  function renderTable(report) {
    const table = $("bucket-table");
    if (!table) return;
    const buckets = report.buckets || [];
    const granularity = report.spec.granularity;
    const multiDay = spansDays(buckets);
    const cc = hasContactCentreMetrics(report);
    const headings = ["Start", "Conversations", "Avg duration", "Avg wait", "Avg hold"];
    if (cc) headings.push("Offered", "Answered", "Abandon %", "Service level %", "AHT");
    const headRow = el("tr");
    headings.forEach(function (text, index) {
      const th = el("th", index ? "num" : "", text);
      th.scope = "col";
      headRow.append(th);
    });
    const body = el("tbody");
    buckets.forEach(function (b) {
      const d = derive(b);
      const row = el("tr");
      const head = el("th");
      head.scope = "row";
      const time = el("time", "", bucketLabel(b.start, granularity, multiDay));
      time.dateTime = b.start;
      head.append(time);
      row.append(head);
      const cells = [formatCount(b.conversations), formatDuration(d.avg_duration),
        formatDuration(d.avg_wait), formatDuration(d.avg_hold)];
      if (cc) {
        cells.push(formatCount(num(b, "offered")), formatCount(num(b, "answered")),
          formatPercent(d.abandon_pct), formatPercent(d.service_level_pct), formatDuration(d.aht));
      }
      cells.forEach(function (text) { row.append(el("td", "num", text)); });
      body.append(row);
    });
    if (!buckets.length) {
      const row = el("tr");
      const cell = el("td", "muted", "No conversations in this range.");
      cell.colSpan = headings.length;
      row.append(cell);
      body.append(row);
    }
    table.tHead.replaceChildren(headRow);
    table.tBodies[0].replaceWith(body);
  }

  // --- charts ------------------------------------------------------------------------------------

  function baseOptions(buckets, granularity) {
    return {
      responsive: true,
      maintainAspectRatio: false,
      animation: { duration: 250 },
      interaction: { mode: "index", intersect: false },
      plugins: {
        legend: { position: "top", align: "end", labels: { boxWidth: 12, boxHeight: 12 } },
        tooltip: {
          callbacks: {
            title: function (items) {
              return items.length ? bucketTitle(buckets[items[0].dataIndex], granularity) : "";
            },
          },
        },
      },
      scales: {
        x: { type: "category", grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 12 } },
      },
    };
  }

  function lineDataset(label, data, color, axis, dashed) {
    return {
      type: "line", label: label, data: data, yAxisID: axis,
      borderColor: color, backgroundColor: color, borderWidth: 2,
      borderDash: dashed ? [6, 4] : [], tension: 0.25, spanGaps: true,
      pointRadius: data.length > 60 ? 0 : 2, pointHoverRadius: 4,
    };
  }

  function upsertChart(name, canvas, build) {
    const spec = build();
    if (charts[name]) {
      charts[name].data = spec.data;
      charts[name].options = spec.options;
      charts[name].update();
    } else {
      charts[name] = new window.Chart(canvas, spec);
    }
  }

  function drawCharts(report) {
    if (!window.Chart) return;
    const buckets = report.buckets || [];
    const granularity = report.spec.granularity;
    const multiDay = spansDays(buckets);
    const labels = buckets.map(function (b) { return bucketLabel(b.start, granularity, multiDay); });
    const derived = buckets.map(derive);
    const cc = hasContactCentreMetrics(report);

    // (1) The tutorial's dual-axis chart: volume on the left, average duration on the right.
    upsertChart("volume", $("chart-volume"), function () {
      const options = baseOptions(buckets, granularity);
      options.scales.y = { position: "left", beginAtZero: true, title: { display: true, text: "Conversations" } };
      options.scales.y1 = {
        position: "right", beginAtZero: true, grid: { drawOnChartArea: false },
        title: { display: true, text: "Avg duration (s)" },
      };
      return {
        data: {
          labels: labels,
          datasets: [
            {
              type: "bar", label: "Conversations", yAxisID: "y", order: 2,
              data: buckets.map(function (b) { return b.conversations; }),
              backgroundColor: "rgba(31, 95, 191, 0.72)", borderRadius: 2,
            },
            Object.assign(lineDataset("Avg duration (s)",
              derived.map(function (d) { return round1(d.avg_duration); }), "#e8772e", "y1"), { order: 1 }),
          ],
        },
        options: options,
      };
    });

    // (2) Waiting: average wait, and ASA where the source gives answer times.
    upsertChart("wait", $("chart-wait"), function () {
      const options = baseOptions(buckets, granularity);
      options.scales.y = { beginAtZero: true, title: { display: true, text: "Seconds" } };
      const datasets = [lineDataset("Avg wait (s)", derived.map(function (d) { return round1(d.avg_wait); }), "#0f8b8d", "y")];
      if (derived.some(function (d) { return d.asa !== null; })) {
        datasets.push(lineDataset("ASA (s)", derived.map(function (d) { return round1(d.asa); }), "#7a4cc2", "y", true));
      }
      return { data: { labels: labels, datasets: datasets }, options: options };
    });
    const asaCaption = $("asa-caption");
    if (asaCaption) asaCaption.hidden = !derived.some(function (d) { return d.asa !== null; });

    // (3) Service level and abandon rate, only where the source counts offered/answered.
    const serviceCanvas = $("chart-service");
    $("service-note").hidden = cc;
    serviceCanvas.hidden = !cc;
    if (cc) {
      upsertChart("service", serviceCanvas, function () {
        const options = baseOptions(buckets, granularity);
        options.scales.y = { min: 0, max: 100, title: { display: true, text: "%" } };
        return {
          data: {
            labels: labels,
            datasets: [
              lineDataset("Service level % (answered in target / answered)",
                derived.map(function (d) { return round1(d.service_level_pct); }), "#1a7f4b", "y"),
              lineDataset("Abandon % (abandoned / offered)",
                derived.map(function (d) { return round1(d.abandon_pct); }), "#c0392b", "y"),
            ],
          },
          options: options,
        };
      });
    } else if (charts.service) {
      charts.service.destroy();
      delete charts.service;
    }
  }

  // --- showing a report --------------------------------------------------------------------------

  function showReport(report, epoch, status) {
    const section = $("report");
    if (!section) return;
    section.hidden = false;
    const panel = $("job-panel");
    if (panel) panel.hidden = true;
    renderKpis(report);
    renderTable(report);
    drawCharts(report);
    asOfEpoch = epoch;
    updateAsOf();
    const range = $("status-range");
    if (range && report.spec) {
      range.textContent = momentIn(config.timeZone, report.spec.start) + " – " +
        momentIn(config.timeZone, report.spec.end);
    }
    const cached = status === "fresh" || status === "stale";
    ["export-csv", "export-json"].forEach(function (id) {
      if ($(id)) $(id).hidden = !cached;
    });
    setRefreshing(status === "stale" ? "(refreshing…)" : null);
  }

  function setRefreshing(text) {
    const element = $("refreshing");
    if (!element) return;
    element.hidden = !text;
    element.textContent = text || "";
  }

  function showProgress(job) {
    const panel = $("job-panel");
    if (!panel) return;
    panel.dataset.state = job.state || "";
    $("job-title").textContent = job.state === "failed" ? "This report could not be loaded" : "Loading this report";
    $("job-progress").textContent = job.progress || "";
    const message = $("job-message");
    message.textContent = job.message || "";
    message.hidden = !job.message || job.state === "failed";
    $("job-failed").hidden = job.state !== "failed";
  }

  function showAutoStatus(text) {
    const element = $("auto-status");
    if (!element) return;
    element.hidden = !text;
    element.textContent = text || "";
  }

  function jobUrl(jobId) {
    return config.jobUrlTemplate.replace("JOB_ID", encodeURIComponent(jobId));
  }

  async function getJson(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (response.status === 401) {
      // Logged out (session expired): the reload goes through the login page and back.
      window.location.reload();
      throw new Error("logged out");
    }
    let body = null;
    try {
      body = await response.json();
    } catch (error) {
      body = { error: "The server answered with HTTP " + response.status + "." };
    }
    return { status: response.status, body: body };
  }

  /* Follow a job until it ends. `mode` is "pending" (the page waits for its first data: show
     progress) or "stale" (data is on screen: only the "refreshing…" note changes). */
  async function followJob(url, mode) {
    if (polling) return;
    polling = true;
    const started = Date.now();
    try {
      for (;;) {
        const elapsed = Date.now() - started;
        // Quick at first (most cache fills take a second or two), then gentler on the server.
        await sleep(elapsed < 5000 ? 500 : elapsed < 30000 ? 1000 : 3000);
        let result;
        try {
          result = await getJson(url);
        } catch (error) {
          if (mode === "pending") showProgress({ state: "queued", progress: "Connection lost; retrying…" });
          continue;
        }
        if (result.status === 404) break; // forgotten job: just read the report again
        if (result.status !== 200) {
          if (mode === "pending") showProgress({ state: "queued", progress: result.body.error || "Retrying…" });
          continue;
        }
        const job = result.body;
        if (job.state === "done") break;
        if (job.state === "failed") {
          if (mode === "pending") showProgress(job);
          else setRefreshing("(refresh failed: " + (job.message || "unknown error") + ")");
          return;
        }
        if (mode === "pending") showProgress(job);
      }
    } finally {
      polling = false;
    }
    await loadReport({ fromJob: true });
  }

  /* Read /api/report with the page's filters. Never forces a refetch: a stale read already
     makes the server start (or join) exactly one refresh. */
  async function loadReport(options) {
    let result;
    try {
      result = await getJson(config.apiReportUrl);
    } catch (error) {
      showAutoStatus("Could not reach the server at " + clockIn(config.timeZone, Date.now() / 1000) + "; will try again.");
      return;
    }
    const body = result.body;
    if (result.status === 200) {
      showReport(body.report, body.as_of_epoch, body.status);
      showAutoStatus(body.status === "degraded" ? body.message : "");
      if (body.status === "stale" && body.job_id) {
        // Right after a job finished the result may already be stale again only on a very
        // short freshness; don't loop on it.
        if (!(options && options.fromJob)) followJob(jobUrl(body.job_id), "stale");
      }
    } else if (result.status === 202) {
      const panel = $("job-panel");
      if (!$("report") || $("report").hidden) {
        if (panel) panel.hidden = false;
        followJob(body.status_url, "pending");
      } else {
        // Data on screen but gone from the cache: keep showing it while the fetch runs.
        setRefreshing("(refreshing…)");
        followJob(body.status_url, "stale");
      }
    } else {
      showAutoStatus((body && body.error) || "The report could not be loaded (HTTP " + result.status + ").");
    }
  }

  // --- auto-refresh (wallboards) --------------------------------------------------------------------

  function startAuto(minutes) {
    if (autoTimer) clearInterval(autoTimer);
    autoTimer = null;
    if (!minutes || config.state === "error") return;
    autoTimer = setInterval(function () {
      if (!polling) loadReport();
    }, minutes * 60 * 1000);
  }

  // --- filter form ---------------------------------------------------------------------------------

  function setUpForm() {
    const form = $("filters");
    if (!form) return;
    const range = $("f-range");
    function syncCustom() {
      const custom = range.value === "custom";
      form.classList.toggle("custom-hidden", !custom);
      // Disabled inputs are not submitted: preset ranges keep start/end out of the URL.
      $("f-start").disabled = !custom;
      $("f-end").disabled = !custom;
    }
    range.addEventListener("change", syncCustom);
    syncCustom();

    // Submit only filled-in values, so the bookmarked URL stays short and readable.
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      const params = new URLSearchParams();
      new FormData(form).forEach(function (value, name) {
        if (String(value).trim() !== "") params.append(name, String(value).trim());
      });
      const query = params.toString();
      window.location.assign(form.action + (query ? "?" + query : ""));
    });

    const auto = $("f-auto");
    auto.addEventListener("change", function () {
      const url = new URL(window.location.href);
      if (auto.value) url.searchParams.set("auto", auto.value);
      else url.searchParams.delete("auto");
      history.replaceState(null, "", url);
      startAuto(Number(auto.value) || 0);
    });
  }

  function setUpTimeZoneSuggestion() {
    const link = $("tz-suggestion");
    if (!link || config.hasTzParam) return;
    let browserZone = null;
    try {
      browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    } catch (error) {
      return;
    }
    if (!browserZone || browserZone === config.timeZone) return;
    const url = new URL(window.location.href);
    url.searchParams.set("tz", browserZone);
    link.href = url.pathname + url.search;
    link.textContent = "Show in your time zone (" + browserZone + ")";
    link.hidden = false;
  }

  function setUpWallDisplay() {
    const button = $("wall-toggle");
    if (!button || !document.fullscreenEnabled) return;
    button.hidden = config.wall;
    button.addEventListener("click", function () {
      document.documentElement.requestFullscreen().then(function () {
        document.body.classList.add("wall");
      }).catch(function () {
        // Full screen refused (e.g. in a kiosk frame): the ?wall=1 layout still helps.
        const url = new URL(window.location.href);
        url.searchParams.set("wall", "1");
        window.location.assign(url);
      });
    });
    document.addEventListener("fullscreenchange", function () {
      if (!document.fullscreenElement && !config.wall) document.body.classList.remove("wall");
    });
  }

  // --- start -------------------------------------------------------------------------------------

  function start() {
    if (window.Chart) {
      window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
      window.Chart.defaults.color = "#5f6b7a";
      window.Chart.defaults.borderColor = "#e6eaef";
    }
    setUpForm();
    setUpTimeZoneSuggestion();
    setUpWallDisplay();

    const report = readJson("report-data");
    if (report) {
      drawCharts(report);
      updateAsOf();
    }
    if (config.jobId && config.state === "pending") {
      followJob(config.jobUrl, "pending");
    } else if (config.jobId && config.state === "stale") {
      followJob(config.jobUrl, "stale");
    }
    setInterval(updateAsOf, 30 * 1000);
    startAuto(config.auto);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
