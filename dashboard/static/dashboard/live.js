// The live wallboard (/live, /w/<token>): asks /api/live every few seconds with If-None-Match
// (a 304 costs one small Redis read), swaps in the tiles the server rendered, ticks the longest
// waits between polls, and says in large type when the numbers stop being live. Every number and
// colour comes from the server (dashboard/live.py); this file only draws and times.
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("live-config").textContent);
  var tiles = document.getElementById("live-tiles");
  var banner = document.getElementById("live-banner");
  var updated = document.getElementById("live-updated");
  var filterLabel = document.getElementById("live-filter");
  if (!tiles || !banner) return;

  var headers = { Accept: "application/json" };
  if (config.wallboard) {
    // The token is in this page's own address (/w/<token>), never written into the page.
    var token = window.location.pathname.split("/w/")[1] || "";
    headers["X-Wallboard-Token"] = decodeURIComponent(token.replace(/\/$/, ""));
  }

  var etag = null;
  var asOf = null;
  var asOfLabel = "";
  var staleAfter = 30;
  var clockOffset = 0; // server time - this machine's time, seconds
  var status = "starting";
  var message = "";
  var failure = ""; // the last poll failed: why
  var stopped = false; // the link was revoked or the session ended: polling stops
  var loadedAt = Date.now() / 1000;

  function serverNow() {
    return Date.now() / 1000 + clockOffset;
  }

  // The same text as dashboard/live.py format_wait().
  function waitText(seconds) {
    var whole = Math.max(0, Math.floor(seconds));
    var hours = Math.floor(whole / 3600);
    var minutes = Math.floor((whole % 3600) / 60);
    var secs = whole % 60;
    var mm = hours ? String(minutes).padStart(2, "0") : String(minutes);
    return (hours ? hours + ":" : "") + mm + ":" + String(secs).padStart(2, "0");
  }

  // Shrink a value's font until it fits its box (long queue names, "1:02:33", "1,234").
  // Height counts only for a value allowed several lines (a queue name): a one-line value's
  // glyphs may reach past its line box at any size.
  function fit(element) {
    element.style.fontSize = "";
    var style = window.getComputedStyle(element);
    var size = parseFloat(style.fontSize);
    var lines = style.whiteSpace !== "nowrap";
    var guard = 40;
    while (guard-- > 0 && size > 8 &&
           (element.scrollWidth > element.clientWidth + 1 ||
            (lines && element.scrollHeight > element.clientHeight + 1))) {
      size *= 0.9;
      element.style.fontSize = size + "px";
    }
  }

  function fitAll() {
    tiles.querySelectorAll(".fit").forEach(fit);
  }

  function tick() {
    tiles.querySelectorAll("[data-since]").forEach(function (element) {
      var text = waitText(serverNow() - parseFloat(element.getAttribute("data-since")));
      if (element.textContent !== text) {
        var longer = text.length !== element.textContent.length;
        element.textContent = text;
        if (longer) fit(element);
      }
    });
    showState();
  }

  function stoppedAtText() {
    return "Live data stopped at " + asOfLabel.slice(0, 5) + ".";
  }

  function showState() {
    var text = "";
    var stale = false;
    if (failure) {
      stale = true;
      text = asOf !== null && !stopped ? stoppedAtText() + " " + failure : failure;
    } else if (status === "starting") {
      text = serverNow() - loadedAt > staleAfter
        ? "No live data yet: the live poller is not running. Check that the Celery worker and beat are up (make run starts both)."
        : message;
    } else if (status === "failed" || status === "stopped") {
      stale = true;
      text = message;
    } else if (asOf !== null && serverNow() - asOf > staleAfter) {
      // Only 304s came back while the numbers aged: the poller stopped writing.
      stale = true;
      text = stoppedAtText() + " The live poller has stopped: check that the Celery worker and beat are up.";
    } else {
      text = message; // live, perhaps with "last poll skipped: ..."
    }
    banner.hidden = !text;
    banner.textContent = text;
    banner.classList.toggle("live-banner--stale", stale);
    document.body.classList.toggle("live--stale", stale);
    tiles.querySelectorAll(".tile").forEach(function (tile) {
      tile.classList.toggle("tile--stale", stale);
    });
  }

  function draw(body) {
    clockOffset = body.now - Date.now() / 1000;
    status = body.status;
    message = body.message || "";
    asOf = body.as_of;
    asOfLabel = body.as_of_label || "";
    staleAfter = body.stale_after_seconds || staleAfter;
    tiles.innerHTML = body.tiles_html;
    if (filterLabel && body.filter_label) filterLabel.textContent = body.filter_label;
    if (updated) updated.textContent = asOf !== null ? "Updated " + asOfLabel : "";
    fitAll();
    tick();
  }

  function schedule() {
    if (!stopped) window.setTimeout(poll, config.pollSeconds * 1000);
  }

  function poll() {
    var ask = Object.assign({}, headers);
    if (etag) ask["If-None-Match"] = etag;
    fetch(config.apiUrl, { headers: ask, credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (response.status === 304) {
          failure = "";
          return null;
        }
        return response.json().then(function (body) {
          if (!response.ok) {
            if (response.status === 401 || response.status === 403) {
              stopped = true;
              tiles.innerHTML = "";
            }
            failure = body.error || "The server answered HTTP " + response.status + ".";
            if (response.status === 401) failure += " Reload the page to log in.";
            return null;
          }
          failure = "";
          etag = response.headers.get("ETag");
          draw(body);
          return null;
        });
      })
      .catch(function () {
        failure = "Cannot reach the dashboard server: retrying every " + config.pollSeconds + " s.";
      })
      .then(function () {
        showState();
        schedule();
      });
  }

  var resizeTimer = null;
  window.addEventListener("resize", function () {
    window.clearTimeout(resizeTimer);
    resizeTimer = window.setTimeout(fitAll, 150);
  });
  window.setInterval(tick, 1000);
  poll();
})();
