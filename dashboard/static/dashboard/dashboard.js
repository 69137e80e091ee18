/* The dashboard page: filter form, charts, job polling, auto-refresh and the wall display.
 *
 * No framework and no build step, and no formulas: every number and label comes from the
 * server (dashboard/kpis.py). The first draw reads the page's json_script blocks (#page-config,
 * #chart-data); a redraw without reload asks /report/panel, which answers with the KPI tiles
 * and the bucket table as server-rendered HTML and with the chart data, and this file swaps
 * them in. The Content-Security-Policy forbids inline script.
 */
(function () {
  "use strict";

  const config = readJson("page-config") || {};
  // Presentation only: a colour per series style (dashboard/kpis.py gives each dataset one).
  const COLOURS = {
    volume: "rgba(31, 95, 191, 0.72)",
    time: "#e8772e",
    wait: "#0f8b8d",
    asa: "#7a4cc2",
    service: "#1a7f4b",
    abandon: "#c0392b",
    target: "#5f6b7a",
    previous: "#8e99a8",
  };
  const DASHED = { asa: true, target: true, previous: true };
  // One formatter for every count: toLocaleString builds a new one a call, and the axes call it
  // hundreds of times while they measure their ticks.
  const COUNT_FORMAT = new Intl.NumberFormat("en-GB");
  const charts = {};
  // Exposed for debugging and the browser tests.
  window.dashboardCharts = charts;

  let polling = false; // one job poller at a time
  let comparePolls = 0;
  let asOfEpoch = config.asOfEpoch || null;
  let asOfLabel = config.asOfLabel || "";
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

  // --- the age of the data, ticking while the page is open ---------------------------------------

  function clockIn(timeZone, epochSeconds) {
    // A time in the report's zone (explicit timeZone, not the browser's).
    return new Intl.DateTimeFormat("en-GB", {
      timeZone: timeZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }).format(new Date(epochSeconds * 1000));
  }

  function ageLabel(seconds) {
    // The only report text written here: the data's age grows while the page sits open,
    // between answers from the server. Same words as dashboard/views.py _age_label, which
    // writes the first one.
    const minutes = Math.floor(Math.max(seconds, 0) / 60);
    if (minutes < 1) return "just now";
    if (minutes < 120) return minutes + " min ago";
    return Math.floor(minutes / 60) + " h ago";
  }

  function updateAsOf() {
    const element = $("as-of");
    if (!element || !asOfEpoch) return;
    element.textContent = "as of " + asOfLabel + ", " + ageLabel(Date.now() / 1000 - asOfEpoch);
  }

  // --- charts: the server's series, drawn ------------------------------------------------------

  /* A value as its format says (the server names it): durations are seconds, written m:ss, or
     h:mm past an hour, never raw seconds. Presentation only: every value is the server's. */
  function formatValue(value, format) {
    if (value === null || value === undefined) return "n/a";
    if (format === "duration") {
      const whole = Math.round(value);
      if (whole < 3600) return Math.floor(whole / 60) + ":" + String(whole % 60).padStart(2, "0");
      return Math.floor(whole / 3600) + ":" + String(Math.floor((whole % 3600) / 60)).padStart(2, "0") + " h";
    }
    if (format === "percent") return value.toFixed(1) + " %";
    return COUNT_FORMAT.format(Math.round(value));
  }

  function tooltipLabel(context) {
    const format = context.dataset.valueFormat;
    return context.dataset.label + ": " + formatValue(context.parsed.y, format);
  }

  function xAxis(data) {
    // Labels only on the buckets the server calls major (whole hours, or days), so the axis
    // never reads 10:30, 12:30; Chart.js still thins them to what fits.
    return {
      type: "category",
      grid: { display: false },
      ticks: {
        maxRotation: 0,
        autoSkipPadding: 12,
        callback: function (value, index) {
          return !data.major || data.major[index] ? this.getLabelForValue(value) : null;
        },
      },
    };
  }

  function scales(axes, data) {
    const result = { x: xAxis(data) };
    Object.keys(axes).forEach(function (id) {
      const axis = axes[id];
      const scale = {
        position: axis.position,
        title: { display: true, text: axis.title },
        ticks: { callback: function (value) { return formatValue(value, axis.format); } },
      };
      if (axis.min === null) scale.beginAtZero = true;
      else scale.min = axis.min;
      if (axis.max !== null) scale.max = axis.max;
      // A second axis draws no grid of its own: one set of lines is enough.
      if (axis.position === "right") scale.grid = { drawOnChartArea: false };
      result[id] = scale;
    });
    return result;
  }

  /* Options every chart shares: drawn at once from data already in Chart.js's own shape. No
     animation: it resolves and runs one for every point of every line (3,000 on a 9-line
     breakdown of a week at 30 min) before the first frame. No parsing: points() gives each value
     its bucket's index. Normalized: those indices are unique, sorted and the same in every
     dataset. (docs/PERFORMANCE.md, "6. Time to chart".) */
  function drawnAtOnce() {
    return { responsive: true, maintainAspectRatio: false, animation: false, parsing: false, normalized: true };
  }

  function points(values) {
    const result = new Array(values.length);
    for (let i = 0; i < values.length; i++) result[i] = { x: i, y: values[i] };
    return result;
  }

  function dataset(spec) {
    const colour = COLOURS[spec.style];
    if (spec.type === "bar") {
      return {
        type: "bar", label: spec.label, data: points(spec.data), yAxisID: spec.axis, order: 2,
        backgroundColor: colour, borderRadius: 2, valueFormat: spec.format,
      };
    }
    return {
      type: "line", label: spec.label, data: points(spec.data), yAxisID: spec.axis, order: 1,
      borderColor: colour, backgroundColor: colour, borderWidth: 2, valueFormat: spec.format,
      // Straight segments: a smoothed curve overshoots (a wait below zero, SL over 100 %).
      borderDash: DASHED[spec.style] ? [6, 4] : [], tension: 0, spanGaps: true,
      pointRadius: spec.data.length > 60 ? 0 : 2, pointHoverRadius: 4,
    };
  }

  function chartConfig(chart, data) {
    return {
      data: { labels: data.labels, datasets: chart.datasets.map(dataset) },
      options: Object.assign(drawnAtOnce(), {
        interaction: { mode: "index", intersect: false },
        plugins: {
          legend: { position: "top", align: "end", labels: { boxWidth: 12, boxHeight: 12 } },
          tooltip: {
            callbacks: {
              title: function (items) { return items.length ? data.titles[items[0].dataIndex] : ""; },
              label: tooltipLabel,
            },
          },
        },
        scales: scales(chart.axes, data),
        onClick: function (event, elements) {
          // A bar or point opens the conversations of its bucket.
          if (elements.length && data.starts) drillTo("&at=" + encodeURIComponent(data.starts[elements[0].index]));
        },
      }),
    };
  }

  function drawChart(name, canvas, chart, data) {
    if (!chart) {
      // This source cannot fill the chart.
      if (charts[name]) {
        charts[name].destroy();
        delete charts[name];
      }
      return;
    }
    const spec = chartConfig(chart, data);
    if (charts[name]) {
      charts[name].data = spec.data;
      charts[name].options = spec.options;
      charts[name].update();
    } else {
      charts[name] = new window.Chart(canvas, spec);
    }
  }

  // --- breakdowns: one line per group, the table's colours; sorting; drill-down clicks ---------------

  function drillTo(extra) {
    if (!config.drillUrl) return;
    window.location.assign(config.drillUrl + extra);
  }

  function groupChartConfig(chart, data) {
    const percent = chart.kind === "percent";
    return {
      type: "line",
      data: {
        labels: data.labels,
        datasets: chart.datasets.map(function (line) {
          return {
            label: line.label, data: points(line.data), borderColor: line.colour, backgroundColor: line.colour,
            borderWidth: 2, tension: 0, spanGaps: true, pointRadius: line.data.length > 60 ? 0 : 2,
            valueFormat: chart.kind,
          };
        }),
      },
      options: Object.assign(drawnAtOnce(), {
        interaction: { mode: "nearest", intersect: false },
        plugins: {
          legend: { position: "top", align: "end", labels: { boxWidth: 12, boxHeight: 12 } },
          tooltip: {
            callbacks: {
              title: function (items) { return items.length ? data.titles[items[0].dataIndex] : ""; },
              label: tooltipLabel,
            },
          },
        },
        scales: {
          x: xAxis(data),
          y: Object.assign(
            percent ? { min: 0, max: 100 } : { beginAtZero: true },
            {
              title: { display: true, text: chart.label },
              ticks: { callback: function (value) { return formatValue(value, chart.kind); } },
            }
          ),
        },
        onClick: function (event, elements) {
          // A point opens that bucket's conversations of that group (Others: the bucket).
          if (!elements.length || !data.starts) return;
          const element = elements[0];
          const group = data.groups_ids ? data.groups_ids[element.datasetIndex] : null;
          let extra = "&at=" + encodeURIComponent(data.starts[element.index]);
          if (group) extra += "&member=" + encodeURIComponent(group);
          drillTo(extra);
        },
      }),
    };
  }

  function drawGroupChart(data) {
    const card = $("group-chart-card");
    if (!card) return;
    const groups = data.groups;
    card.hidden = !groups;
    if (!groups) {
      if (charts.groups) {
        charts.groups.destroy();
        delete charts.groups;
      }
      return;
    }
    $("group-chart-caption").textContent = groups.title;
    const select = $("group-kpi");
    const chosen = select.value;
    select.innerHTML = "";
    groups.kpis.forEach(function (chart) {
      const option = document.createElement("option");
      option.value = chart.key;
      option.textContent = chart.label;
      select.appendChild(option);
    });
    if (groups.kpis.some(function (chart) { return chart.key === chosen; })) select.value = chosen;
    const chart = groups.kpis.find(function (one) { return one.key === select.value; }) || groups.kpis[0];
    const spec = groupChartConfig(chart, { labels: data.labels, titles: data.titles, starts: data.starts, major: data.major, groups_ids: groups.ids });
    if (charts.groups) charts.groups.destroy();
    charts.groups = new window.Chart($("chart-groups"), spec);
  }

  function paintSwatches() {
    document.querySelectorAll(".swatch[data-colour]").forEach(function (swatch) {
      // Set from script: the CSP forbids inline style attributes.
      swatch.style.backgroundColor = swatch.dataset.colour;
    });
  }

  function sortKey(cell, type) {
    const raw = cell ? cell.dataset.sort || "" : "";
    if (type === "text") return raw;
    return raw === "" ? null : Number(raw);
  }

  function setUpGroupSorting() {
    const holder = $("group-table");
    if (!holder) return;
    // Delegated: the table is swapped in again on every redraw.
    holder.addEventListener("click", function (event) {
      const button = event.target.closest("button.sort");
      if (!button) return;
      const table = button.closest("table");
      const header = button.closest("th");
      const column = Number(button.dataset.column);
      const type = button.dataset.type;
      const descending = header.getAttribute("aria-sort") !== "descending";
      table.querySelectorAll("thead th").forEach(function (th) { th.setAttribute("aria-sort", "none"); });
      header.setAttribute("aria-sort", descending ? "descending" : "ascending");
      const body = table.tBodies[0];
      const rows = Array.prototype.slice.call(body.rows).filter(function (row) { return row.dataset.group !== undefined; });
      rows.sort(function (a, b) {
        const x = sortKey(a.cells[column], type);
        const y = sortKey(b.cells[column], type);
        // Rows without a value (n/a) go last, whichever way.
        if (x === null || y === null) return x === null ? (y === null ? 0 : 1) : -1;
        const order = type === "text" ? x.localeCompare(y) : x - y;
        return descending ? -order : order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  }

  let lastCharts = null;

  function drawCharts(data) {
    lastCharts = data;
    paintSwatches();
    if (!window.Chart) return;
    drawGroupChart(data);
    drawChart("volume", $("chart-volume"), data.volume, data);
    const volumeCaption = $("volume-caption");
    if (volumeCaption && data.volume) volumeCaption.textContent = data.volume.title;
    drawChart("wait", $("chart-wait"), data.wait, data);
    const asaCaption = $("asa-caption");
    if (asaCaption) asaCaption.hidden = !data.has_asa;
    $("service-note").hidden = Boolean(data.service);
    $("chart-service").hidden = !data.service;
    drawChart("service", $("chart-service"), data.service, data);
  }

  /* The bucket table is held back (dashboard.css, .table-scroll--later) until the charts are
     on screen: let that frame go, then lay the table out. The mark is for bench 6 and 9. */
  function showBucketTable() {
    const scroll = $("bucket-scroll");
    if (!scroll || !scroll.classList.contains("table-scroll--later")) return;
    requestAnimationFrame(function () {
      setTimeout(function () {
        scroll.classList.remove("table-scroll--later");
        void scroll.offsetHeight; // its style and layout now, not in Chart.js's next resize check
        performance.mark("dashboard:bucket-table");
      }, 0);
    });
  }

  // --- showing a report --------------------------------------------------------------------------

  /* Swap in a /report/panel answer: tiles and table as the server rendered them (escaped by
     its templates), the charts from its data. */
  function showReport(panel) {
    const section = $("report");
    if (!section) return;
    section.hidden = false;
    const jobPanel = $("job-panel");
    if (jobPanel) jobPanel.hidden = true;
    $("kpis").innerHTML = panel.kpis_html;
    $("bucket-table").innerHTML = panel.table_html;
    if ($("group-table")) {
      $("group-table").innerHTML = panel.groups_html;
      $("groups-card").hidden = !panel.groups_html.trim();
    }
    drawCharts(panel.charts);
    asOfEpoch = panel.as_of_epoch;
    asOfLabel = panel.as_of_label;
    updateAsOf();
    const range = $("status-range");
    if (range) range.textContent = panel.range_label;
    if (panel.title) document.title = panel.title;
    const cached = panel.status === "fresh" || panel.status === "stale";
    ["export-csv", "export-json", "export-xlsx"].forEach(function (id) {
      if ($(id)) $(id).hidden = !cached;
    });
    setRefreshing(panel.status === "stale" ? "(refreshing…)" : null);
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

  /* Read /report/panel with the page's filters. Never forces a refetch: a stale read already
     makes the server start (or join) exactly one refresh. */
  async function loadReport(options) {
    let result;
    try {
      result = await getJson(config.panelUrl);
    } catch (error) {
      showAutoStatus("Could not reach the server at " + clockIn(config.timeZone, Date.now() / 1000) + "; will try again.");
      return;
    }
    const body = result.body;
    if (result.status === 200) {
      showReport(body);
      showAutoStatus(body.message);
      // The previous period still loading: ask again in a moment (a few times at most).
      if (body.compare_pending && comparePolls < 20) {
        comparePolls += 1;
        setTimeout(function () { if (!polling) loadReport(); }, 3000);
      }
      if (body.status === "stale" && body.status_url) {
        // Right after a job finished the result may already be stale again only on a very
        // short freshness; don't loop on it.
        if (!(options && options.fromJob)) followJob(body.status_url, "stale");
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
    // On a phone the filters fold behind a button (open when one of them has an error).
    const toggle = $("filters-toggle");
    if (toggle && window.matchMedia("(max-width: 600px)").matches && !form.querySelector(".field--error")) {
      form.classList.add("filters--folded");
      toggle.setAttribute("aria-expanded", "false");
    }
    if (toggle) toggle.addEventListener("click", function () {
      const folded = form.classList.toggle("filters--folded");
      toggle.setAttribute("aria-expanded", folded ? "false" : "true");
    });
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

    // A comparison is read with the report: choosing one applies the filters at once.
    const compare = $("f-compare");
    if (compare) compare.addEventListener("change", function () { form.requestSubmit(); });

    const auto = $("f-auto");
    auto.addEventListener("change", function () {
      const url = new URL(window.location.href);
      if (auto.value) url.searchParams.set("auto", auto.value);
      else url.searchParams.delete("auto");
      history.replaceState(null, "", url);
      startAuto(Number(auto.value) || 0);
    });
  }

  // --- the queue picker ------------------------------------------------------------------------------

  function setUpQueuePicker() {
    const list = $("queue-list");
    if (!list) return;
    const search = $("queue-search");
    const picked = $("queue-picked");
    const summary = $("queue-summary");
    function boxes() { return Array.prototype.slice.call(list.querySelectorAll("input[type=checkbox]")); }
    function showPicked() {
      const names = boxes().filter(function (box) { return box.checked; }).map(function (box) { return box.dataset.label; });
      summary.textContent = names.length ? names.length + " selected" : "All queues";
      picked.textContent = names.length ? names.join(", ") : "";
    }
    list.addEventListener("change", showPicked);
    search.addEventListener("input", function () {
      const needle = search.value.trim().toLowerCase();
      boxes().forEach(function (box) {
        box.parentElement.hidden = needle !== "" && box.dataset.label.toLowerCase().indexOf(needle) < 0;
      });
    });
    // Enter in the search box must not submit the whole form.
    search.addEventListener("keydown", function (event) { if (event.key === "Enter") event.preventDefault(); });
    showPicked();
  }

  /* A page rendered before the queue names were cached shows an ids box: swap in the picker as
     soon as the server has the names (a worker loads them within seconds). */
  async function loadQueuePicker() {
    const input = $("f-queue");
    if (!input || !input.dataset.queuesUrl) return;
    for (let attempt = 0; attempt < 30; attempt++) {
      let result;
      try {
        result = await getJson(input.dataset.queuesUrl);
      } catch (error) {
        return;
      }
      const queues = result.status === 200 ? result.body.queues : [];
      if (queues && queues.length) {
        const chosen = input.value.split(",").map(function (v) { return v.trim(); }).filter(Boolean);
        const lower = chosen.map(function (v) { return v.toLowerCase(); });
        const details = document.createElement("details");
        details.className = "picker";
        details.id = "queue-picker";
        const summary = document.createElement("summary");
        summary.id = "queue-summary";
        details.appendChild(summary);
        const body = document.createElement("div");
        body.className = "picker-body";
        const search = document.createElement("input");
        search.type = "search";
        search.id = "queue-search";
        search.placeholder = "Search queues";
        search.setAttribute("aria-label", "Search queues");
        body.appendChild(search);
        const list = document.createElement("div");
        list.className = "picker-list";
        list.id = "queue-list";
        queues.forEach(function (queue) {
          const label = document.createElement("label");
          label.className = "check";
          const box = document.createElement("input");
          box.type = "checkbox";
          box.name = "queue";
          box.value = queue[0];
          box.dataset.label = queue[1];
          box.checked = chosen.indexOf(queue[0]) >= 0 || lower.indexOf(queue[1].toLowerCase()) >= 0;
          label.appendChild(box);
          label.appendChild(document.createTextNode(" " + queue[1]));
          list.appendChild(label);
        });
        body.appendChild(list);
        details.appendChild(body);
        input.replaceWith(details);
        setUpQueuePicker();
        return;
      }
      await sleep(1000);
    }
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
    showBucketTable(); // first: its callbacks run after this task, whatever else here fails
    if (window.Chart) {
      // Text and grid from the page's own colours, so the dark theme's charts are dark too.
      const style = getComputedStyle(document.documentElement);
      window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
      window.Chart.defaults.color = style.getPropertyValue("--muted").trim() || "#5f6b7a";
      window.Chart.defaults.borderColor = style.getPropertyValue("--line").trim() || "#e6eaef";
    }
    setUpForm();
    setUpQueuePicker();
    loadQueuePicker();
    setUpGroupSorting();
    const groupKpi = $("group-kpi");
    if (groupKpi) groupKpi.addEventListener("change", function () {
      const data = readJson("chart-data");
      if (lastCharts || data) drawGroupChart(lastCharts || data);
    });
    setUpTimeZoneSuggestion();
    setUpWallDisplay();

    const chartData = readJson("chart-data");
    if (chartData) {
      const drawStart = performance.now();
      drawCharts(chartData);
      // How long drawing the charts took, for bench 6 and 9.
      performance.mark("dashboard:charts", { detail: performance.now() - drawStart });
      updateAsOf();
    }
    if (config.jobId && config.state === "pending") {
      followJob(config.jobUrl, "pending");
    } else if (config.jobId && config.state === "stale") {
      followJob(config.jobUrl, "stale");
    }
    setInterval(updateAsOf, 30 * 1000);
    startAuto(config.auto);
    if (config.comparePending) setTimeout(function () { if (!polling) loadReport(); }, 3000);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
