// Job progress: follow each [data-events] job by Server-Sent Events (progress bar and message), and reload the page
// when every job on it has finished (the page then shows the result or the error). No inline scripts (CSP).
(function () {
  'use strict';
  var items = document.querySelectorAll('.job-progress[data-events]');
  if (!items.length || !window.EventSource) { return; }
  var open = items.length;
  Array.prototype.forEach.call(items, function (el) {
    var bar = el.querySelector('progress'), msg = el.querySelector('.job-message');
    var es = new EventSource(el.dataset.events);
    var show = function (ev) {
      var j = JSON.parse(ev.data);
      el.dataset.state = j.state;
      if (bar) { bar.value = j.progress; }
      if (msg && j.message) { msg.textContent = j.message; }
      return j;
    };
    es.addEventListener('progress', show);
    es.addEventListener('done', function (ev) {
      show(ev); es.close(); open -= 1;
      if (open === 0) { window.location.reload(); }
    });
  });
})();
