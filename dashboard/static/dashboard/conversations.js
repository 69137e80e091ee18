/* The drill-down page while its listing is fetched: follow the job, show its progress (every
 * word from the server's /api/jobs answer), and reload once it is done. */
(function () {
  "use strict";

  const element = document.getElementById("page-config");
  const config = element ? JSON.parse(element.textContent) : {};
  if (!config.jobUrl) return;

  function show(job) {
    const progress = document.getElementById("job-progress");
    if (progress) progress.textContent = job.progress || "";
    const message = document.getElementById("job-message");
    if (message) {
      message.textContent = job.message || "";
      message.hidden = !job.message || job.state === "failed";
    }
    if (job.state === "failed") {
      document.getElementById("job-title").textContent = "These conversations could not be loaded";
      document.getElementById("job-failed").hidden = false;
    }
  }

  async function follow() {
    for (;;) {
      await new Promise(function (resolve) { setTimeout(resolve, 700); });
      let response;
      try {
        response = await fetch(config.jobUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      } catch (error) {
        continue;
      }
      if (response.status === 404) break;
      if (response.status !== 200) continue;
      const job = await response.json();
      if (job.state === "done") break;
      show(job);
      if (job.state === "failed") return;
    }
    window.location.reload();
  }

  follow();
})();
