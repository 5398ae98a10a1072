// The Measure page's key frames load lazily (loading="lazy", one page of clips at a time); this line tells how
// many of them have arrived, so a slow page shows progress instead of blank boxes.
(function () {
  "use strict";
  const p = document.getElementById("frames-progress");
  if (!p) { return; }
  const imgs = Array.from(document.querySelectorAll(".echo-frame img"));
  const total = imgs.length;
  let n = 0;
  function show() {
    p.textContent = p.dataset.template.replace("{n}", String(n)).replace("{total}", String(total));
    p.dataset.loaded = String(n);
    p.classList.toggle("done", n >= total);
  }
  imgs.forEach(function (im) {
    if (im.complete && im.naturalWidth > 0) { n += 1; return; }
    const one = function () { n += 1; show(); };
    im.addEventListener("load", one, { once: true });
    im.addEventListener("error", one, { once: true });
  });
  show();
}());
