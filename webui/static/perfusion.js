/* Perfusion page: poll the analysis job and reload when it finishes; show that an upload is on its way.
   No inline script (CSP). */
(function () {
  "use strict";
  document.querySelectorAll("form.perf-form").forEach(function (form) {
    form.addEventListener("submit", function () {
      var b = form.querySelector("button.perf-submit");
      if (b) { b.disabled = true; b.textContent = b.dataset.busy || b.textContent; }
    });
  });

  var box = document.getElementById("perf-job");
  if (!box || box.dataset.state === "done" || box.dataset.state === "error") { return; }
  var text = document.getElementById("perf-job-text");
  var err = document.getElementById("perf-job-error");
  function show(j) {
    box.dataset.state = j.state;
    text.textContent = text.dataset[j.state] || j.state;
    if (j.state === "done" || j.state === "error") {
      // the stored result (or the stored reason) is on the page itself
      window.location.replace(box.dataset.pageUrl + (j.state === "error" ? "#perf-failed" : "#perf-result"));
    }
  }
  function poll() {
    fetch(box.dataset.jobUrl, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (r) {
        if (r.status === 404) { throw new Error("gone"); }
        return r.json();
      })
      .then(function (j) { show(j); if (j.state === "queued" || j.state === "running") { setTimeout(poll, 500); } })
      .catch(function (e) {
        if (e && e.message === "gone") { window.location.replace(box.dataset.pageUrl); return; }
        setTimeout(poll, 1500);
      });
  }
  poll();
})();
