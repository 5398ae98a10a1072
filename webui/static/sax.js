// Short-axis MRI page: drag a point of the cavity (red) or epicardial (green) outline of the shown frame; on release
// the outline is sent to the server, which redraws the mask and recomputes the frame's indices and the stack's
// volumes, then the page reloads with the new values. Mouse and touch (pointer events); no inline scripts (CSP).
(function () {
  'use strict';
  var fig = document.getElementById('sax-view');
  var svg = document.getElementById('sax-svg');
  if (!fig || !svg || fig.dataset.edit !== '1') { return; }
  var NS = 'http://www.w3.org/2000/svg';
  var outlines = { endo: JSON.parse(svg.dataset.endo || '[]'), epi: JSON.parse(svg.dataset.epi || '[]') };
  var polys = { endo: svg.querySelector('.sax-endo'), epi: svg.querySelector('.sax-epi') };
  var token = (document.querySelector('meta[name="csrf-token"]') || {}).content || '';
  var drag = null;

  function redraw(kind) {
    if (polys[kind]) { polys[kind].setAttribute('points', outlines[kind].map(function (p) { return p.join(','); }).join(' ')); }
  }
  function toSvg(ev) {
    var pt = svg.createSVGPoint(); pt.x = ev.clientX; pt.y = ev.clientY;
    var p = pt.matrixTransform(svg.getScreenCTM().inverse());
    return [Math.round(p.x * 10) / 10, Math.round(p.y * 10) / 10];
  }
  ['epi', 'endo'].forEach(function (kind) {
    outlines[kind].forEach(function (p, i) {
      var c = document.createElementNS(NS, 'circle');
      c.setAttribute('class', 'sax-handle'); c.setAttribute('r', '1.3');
      c.setAttribute('cx', p[0]); c.setAttribute('cy', p[1]);
      c.dataset.kind = kind; c.dataset.i = i;
      svg.appendChild(c);
    });
  });
  svg.addEventListener('pointerdown', function (ev) {
    if (!ev.target.classList.contains('sax-handle')) { return; }
    drag = ev.target; svg.setPointerCapture(ev.pointerId); ev.preventDefault();
  });
  svg.addEventListener('pointermove', function (ev) {
    if (!drag) { return; }
    var p = toSvg(ev);
    drag.setAttribute('cx', p[0]); drag.setAttribute('cy', p[1]);
    outlines[drag.dataset.kind][+drag.dataset.i] = p;
    redraw(drag.dataset.kind);
  });
  svg.addEventListener('pointerup', function () {
    if (!drag) { return; }
    drag = null;
    var err = document.getElementById('sax-contour-error');
    fetch(fig.dataset.url, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': token },
      body: JSON.stringify({ analysis_id: +fig.dataset.analysis, k: +fig.dataset.k, endo: outlines.endo, epi: outlines.epi })
    }).then(function (r) { return r.json().then(function (j) { return [r.ok, j]; }); }).then(function (res) {
      if (!res[0]) { err.textContent = res[1].error || 'error'; err.classList.remove('hidden'); return; }
      window.location.href = fig.dataset.page + '?k=' + fig.dataset.k + '#sax-view';
    }).catch(function () { err.textContent = 'network error; try again'; err.classList.remove('hidden'); });
  });
})();
