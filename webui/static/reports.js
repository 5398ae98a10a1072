/* Reports area: confirm before signing; poll a USB job and show its progress. No inline script (CSP). */
(function () {
  "use strict";
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (!window.confirm(form.dataset.confirm)) { ev.preventDefault(); }
    });
  });

  var job = document.getElementById("usb-job");
  if (!job || job.dataset.state !== "running") { return; }
  var bar = document.getElementById("usb-progress");
  var phase = document.getElementById("usb-phase");
  var ok = document.getElementById("usb-result");
  var err = document.getElementById("usb-error");
  function show(j) {
    job.dataset.state = j.state;
    bar.max = j.total || 1;
    bar.value = j.done;
    phase.textContent = (phase.dataset[j.phase] || j.phase) +
      (j.total ? " " + Math.round(100 * j.done / j.total) + " %" : "");
    if (j.state === "done") {
      ok.textContent = ok.dataset.text + " " + (j.result.bundle || "");
      ok.classList.remove("hidden");
    } else if (j.state === "error") {
      err.textContent = j.message;
      err.classList.remove("hidden");
    }
  }
  function poll() {
    fetch(job.dataset.jobUrl, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (j) { show(j); if (j.state === "running") { setTimeout(poll, 400); } })
      .catch(function () { setTimeout(poll, 1500); });
  }
  poll();
})();
