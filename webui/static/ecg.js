// Paper ECG pages: upload with a busy message, overlay layer toggles, the lead-box correction editor, the browser
// camera with a framing guide, and the live serial ECG canvas. No inline scripts (CSP): data comes from JSON blocks.
(function () {
  'use strict';
  var $ = function (id) { return document.getElementById(id); };
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || '';

  function busy() { var b = $('ecg-busy'); if (b) { b.classList.remove('hidden'); } }

  // ------------------------------------------------------------------ upload: read as soon as a file is chosen
  var form = $('ecg-upload-form');
  if (form) {
    Array.prototype.forEach.call(form.querySelectorAll('input[type=file]'), function (inp) {
      inp.addEventListener('change', function () {
        if (!inp.files || !inp.files.length) { return; }
        Array.prototype.forEach.call(form.querySelectorAll('input[type=file]'), function (o) { if (o !== inp) { o.value = ''; } });
        busy(); form.submit();
      });
    });
    var nojs = form.querySelector('.ecg-nojs'); if (nojs) { nojs.classList.add('hidden'); }
  }
  Array.prototype.forEach.call(document.querySelectorAll('.ecg-busy-form'), function (f) {
    f.addEventListener('submit', function () { busy(); });
  });

  // the camera page's label goes with whichever way the photo is taken
  var labelIn = $('ecg-label');
  if (labelIn) {
    labelIn.addEventListener('input', function () {
      Array.prototype.forEach.call(document.querySelectorAll('.ecg-label-copy'), function (h) { h.value = labelIn.value; });
    });
  }

  // ------------------------------------------------------------------ overlay layer toggles
  Array.prototype.forEach.call(document.querySelectorAll('input[data-toggle]'), function (cb) {
    cb.addEventListener('change', function () {
      Array.prototype.forEach.call(document.querySelectorAll('#ecg-overlay .' + cb.dataset.toggle), function (el) {
        el.style.display = cb.checked ? '' : 'none';
      });
    });
  });

  // ------------------------------------------------------------------ calipers on the drawn median beat
  // The beat (per lead, ms from R) is drawn as SVG; four markers (P onset, QRS onset, QRS offset, T end) are dragged
  // with pointer events (mouse, pen and touch alike) and fill the caliper form, which the cart recomputes on save.
  var beatData = $('ecg-beat-data');
  if (beatData) {
    var B = JSON.parse(beatData.textContent), S = JSON.parse($('ecg-beat-strings').textContent);
    var bsvg = $('ecg-beat-svg'), calForm = $('ecg-calipers'), NS = 'http://www.w3.org/2000/svg';
    var W = B.beats[B.leads[0]].length * B.dt_ms, T0 = B.t0_ms, PADY = 40;
    var box = bsvg.getBoundingClientRect();   // 1 unit = 1 ms across; the height keeps the drawing unstretched
    var H = box.width > 0 ? Math.round(W * box.height / box.width) : 300;
    var KEYS = ['p_onset_ms', 'qrs_onset_ms', 'qrs_offset_ms', 't_end_ms'];
    var SHORT = { p_onset_ms: 'P', qrs_onset_ms: 'Q', qrs_offset_ms: 'J', t_end_ms: 'T' };
    var pos = {};
    KEYS.forEach(function (k) {
      var inp = calForm ? calForm.elements[k] : null, v = inp ? parseFloat(inp.value) : B.markers[k];
      pos[k] = (v === null || v === undefined || isNaN(v)) ? null : v;
    });
    bsvg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    var el = function (name, attrs, parent) {
      var e = document.createElementNS(NS, name);
      Object.keys(attrs).forEach(function (a) { e.setAttribute(a, attrs[a]); });
      (parent || bsvg).appendChild(e); return e;
    };
    var xOf = function (ms) { return ms - T0; };
    var gridG = el('g', { 'class': 'ecg-beat-grid' }), trace = el('polyline', { 'class': 'ecg-beat-trace', fill: 'none' });
    var markG = el('g', { 'class': 'ecg-beat-markers' }), markers = {};
    var drawLead = function (lead) {
      var y = B.beats[lead], lo = Math.min.apply(null, y), hi = Math.max.apply(null, y);
      lo = Math.min(lo, -0.2); hi = Math.max(hi, 0.2);
      var k = (H - 2 * PADY) / (hi - lo), yOf = function (mv) { return H - PADY - (mv - lo) * k; };
      while (gridG.firstChild) { gridG.removeChild(gridG.firstChild); }
      for (var t = Math.ceil(T0 / 40) * 40; t <= T0 + W; t += 40) {
        el('line', { x1: xOf(t), x2: xOf(t), y1: 0, y2: H, 'class': t % 200 === 0 ? 'major' : 'minor' }, gridG);
      }
      for (var mv = Math.ceil(lo * 10) / 10; mv <= hi; mv += 0.1) {
        var r = Math.round(mv * 10);
        el('line', { x1: 0, x2: W, y1: yOf(mv), y2: yOf(mv), 'class': r === 0 ? 'zero' : (r % 5 === 0 ? 'major' : 'minor') }, gridG);
      }
      trace.setAttribute('points', y.map(function (v, i) { return (i * B.dt_ms).toFixed(1) + ',' + yOf(v).toFixed(1); }).join(' '));
    };
    var preview = function () {
      var p = pos, rr = B.rr_ms, f = calForm ? calForm.elements.formula.value : 'bazett', out = [];
      if (p.p_onset_ms !== null && p.qrs_onset_ms !== null) { out.push('PR ' + Math.round(p.qrs_onset_ms - p.p_onset_ms) + ' ms'); }
      if (p.qrs_offset_ms !== null) { out.push('QRS ' + Math.round(p.qrs_offset_ms - p.qrs_onset_ms) + ' ms'); }
      if (p.t_end_ms !== null) {
        var qt = p.t_end_ms - p.qrs_onset_ms; out.push('QT ' + Math.round(qt) + ' ms');
        if (rr) { var s_ = rr / 1000; out.push('QTc ' + Math.round(qt / (f === 'fridericia' ? Math.cbrt(s_) : Math.sqrt(s_))) + ' ms (' + f + ')'); }
      }
      $('ecg-beat-preview').textContent = S.preview + ': ' + out.join(' · ');
    };
    var place = function (k) {
      var m = markers[k], v = pos[k];
      m.style.display = v === null ? 'none' : '';
      if (v === null) { return; }
      var x = xOf(v);
      m.querySelector('line').setAttribute('x1', x); m.querySelector('line').setAttribute('x2', x);
      m.querySelector('rect').setAttribute('x', x - 16);
      m.querySelector('circle').setAttribute('cx', x);
      m.querySelector('text').setAttribute('x', x);
    };
    KEYS.forEach(function (k) {
      var g = el('g', { 'class': 'ecg-marker ecg-marker-' + k, 'data-marker': k, tabindex: calForm ? 0 : -1,
                        role: 'slider', 'aria-label': S[k] }, markG);
      el('line', { y1: 0, y2: H, 'class': 'ecg-marker-line' }, g);
      el('rect', { y: 0, width: 32, height: H, 'class': 'ecg-marker-hit' }, g);   // a wide touch target
      el('circle', { cy: 18, r: 14, 'class': 'ecg-marker-knob' }, g);
      var tx = el('text', { y: 23, 'text-anchor': 'middle', 'class': 'ecg-marker-text' }, g); tx.textContent = SHORT[k];
      el('title', {}, g).textContent = S[k];
      markers[k] = g; place(k);
    });
    // order P < QRS on < QRS off < T end, 2 ms apart at least, inside the drawn beat
    var clamp = function (k, v) {
      var i = KEYS.indexOf(k), lo = T0, hi = T0 + W;
      for (var a = i - 1; a >= 0; a--) { if (pos[KEYS[a]] !== null) { lo = pos[KEYS[a]] + 2; break; } }
      for (var b = i + 1; b < KEYS.length; b++) { if (pos[KEYS[b]] !== null) { hi = pos[KEYS[b]] - 2; break; } }
      return Math.max(lo, Math.min(hi, v));
    };
    var set = function (k, v) {
      pos[k] = Math.round(clamp(k, v)); place(k);
      if (calForm) { calForm.elements[k].value = pos[k]; }
      preview();
    };
    var msOf = function (ev) {
      var pt = bsvg.createSVGPoint(); pt.x = ev.clientX; pt.y = ev.clientY;
      return pt.matrixTransform(bsvg.getScreenCTM().inverse()).x + T0;
    };
    var dragging = null;
    if (calForm) {
      KEYS.forEach(function (k) {
        markers[k].addEventListener('pointerdown', function (ev) {
          ev.preventDefault(); dragging = { k: k, off: pos[k] - msOf(ev) };
          markers[k].classList.add('dragging');
          try { bsvg.setPointerCapture(ev.pointerId); } catch (e) { /* an already released pointer: drag without capture */ }
        });
        markers[k].addEventListener('keydown', function (ev) {
          var d = ev.key === 'ArrowLeft' ? -1 : ev.key === 'ArrowRight' ? 1 : 0;
          if (d) { ev.preventDefault(); set(k, pos[k] + d * (ev.shiftKey ? 10 : 1)); }
        });
        calForm.elements[k].addEventListener('input', function () {
          var v = parseFloat(this.value);
          pos[k] = isNaN(v) ? null : v; place(k); preview();
        });
      });
      bsvg.addEventListener('pointermove', function (ev) {
        if (dragging) { ev.preventDefault(); set(dragging.k, msOf(ev) + dragging.off); }
      });
      var stop = function () { if (dragging) { markers[dragging.k].classList.remove('dragging'); dragging = null; } };
      bsvg.addEventListener('pointerup', stop); bsvg.addEventListener('pointercancel', stop);
      calForm.elements.formula.addEventListener('change', preview);
    }
    var leadSel = $('ecg-beat-lead');
    B.leads.forEach(function (l) { var o = document.createElement('option'); o.value = l; o.textContent = l; leadSel.appendChild(o); });
    leadSel.value = B.lead;
    leadSel.addEventListener('change', function () { drawLead(leadSel.value); bsvg.dataset.lead = leadSel.value; });
    drawLead(B.lead); bsvg.dataset.lead = B.lead; preview();
  }

  // ------------------------------------------------------------------ correction editor
  var editor = $('ecg-editor');
  if (editor) {
    var svg = $('ecg-overlay');
    var orig = JSON.parse($('ecg-boxes-data').textContent);
    var boxes = orig.map(function (b) { return Object.assign({}, b); });
    var groups = svg.querySelectorAll('.ecg-box');
    var sel = -1, drag = null;
    var store = function () { $('ecg-boxes-input').value = JSON.stringify(boxes); };
    var draw = function (i) {
      var b = boxes[i], g = groups[i], r = g.querySelector('rect'), t = g.querySelector('text');
      r.setAttribute('x', b.x0); r.setAttribute('y', b.y0);
      r.setAttribute('width', b.x1 - b.x0); r.setAttribute('height', b.y1 - b.y0);
      t.setAttribute('x', b.x0 + 6); t.setAttribute('y', b.y0 + 26); t.textContent = b.lead;
      g.dataset.lead = b.lead;
    };
    var select = function (i) {
      sel = i;
      Array.prototype.forEach.call(groups, function (g, k) { g.classList.toggle('selected', k === i); });
      $('ecg-sel-name').textContent = i >= 0 ? boxes[i].lead + ' (#' + (i + 1) + ')' : '—';
      $('ecg-sel-lead').disabled = i < 0;
      if (i >= 0) { $('ecg-sel-lead').value = boxes[i].lead; }
    };
    var move = function (i, dx, dy) {
      var b = boxes[i];
      b.x0 += dx; b.x1 += dx; b.y0 += dy; b.y1 += dy; b.baseline_y += dy;
      draw(i); store();
    };
    var toSvg = function (ev) {
      var pt = svg.createSVGPoint(); pt.x = ev.clientX; pt.y = ev.clientY;
      return pt.matrixTransform(svg.getScreenCTM().inverse());
    };
    Array.prototype.forEach.call(groups, function (g, i) {
      g.addEventListener('pointerdown', function (ev) {
        ev.preventDefault(); select(i);
        var p = toSvg(ev); drag = { i: i, x: p.x, y: p.y };
        svg.setPointerCapture(ev.pointerId);
      });
    });
    svg.addEventListener('pointermove', function (ev) {
      if (!drag) { return; }
      var p = toSvg(ev);
      move(drag.i, p.x - drag.x, p.y - drag.y); drag.x = p.x; drag.y = p.y;
    });
    var end = function () { drag = null; };
    svg.addEventListener('pointerup', end); svg.addEventListener('pointercancel', end);
    $('ecg-sel-lead').addEventListener('change', function () {
      if (sel >= 0) { boxes[sel].lead = this.value; draw(sel); store(); select(sel); }
    });
    Array.prototype.forEach.call(document.querySelectorAll('[data-nudge]'), function (btn) {
      btn.addEventListener('click', function () {
        if (sel < 0) { select(0); }
        var d = btn.dataset.nudge.split(',').map(Number);
        var step = 8;  // 1 mm on the rectified printout (8 px/mm)
        move(sel, d[0] * step, d[1] * step);
      });
    });
    $('ecg-reset-boxes').addEventListener('click', function () {
      boxes = orig.map(function (b) { return Object.assign({}, b); });
      boxes.forEach(function (_, i) { draw(i); }); store(); select(-1);
    });
    store();
  }

  // ------------------------------------------------------------------ browser camera with a framing guide
  var cam = $('ecg-camera');
  if (cam) {
    var video = $('ecg-video'), snap = $('ecg-snap');
    var started = false;
    video.addEventListener('loadeddata', function () { snap.disabled = false; });  // a frame to take
    var showMsg = function () { if (!started) { $('ecg-cam-msg').classList.remove('hidden'); } };
    if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
      navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment', width: { ideal: 1920 }, height: { ideal: 1080 } }, audio: false })
        .then(function (stream) { started = true; video.srcObject = stream; $('ecg-cam-msg').classList.add('hidden'); })
        .catch(showMsg);
      setTimeout(showMsg, 6000);  // no answer (no camera, permission pending): say so
    } else { showMsg(); }
    snap.addEventListener('click', function () {
      var c = document.createElement('canvas');
      c.width = video.videoWidth; c.height = video.videoHeight;
      if (!c.width) { return; }
      c.getContext('2d').drawImage(video, 0, 0);
      snap.disabled = true; busy();
      c.toBlob(function (blob) {
        var fd = new FormData(); fd.append('photo', blob, 'camera.jpg'); fd.append('source', 'browser_camera');
        fd.append('label', ($('ecg-label') || {}).value || '');
        fetch(cam.dataset.upload, { method: 'POST', body: fd, credentials: 'same-origin',
                                    headers: { 'X-CSRF-Token': csrf, 'Accept': 'application/json' } })
          .then(function (r) { return r.json(); })
          .then(function (j) {
            if (j.ok) { window.location = j.redirect; return; }
            $('ecg-busy').classList.add('hidden'); snap.disabled = false;
            var e = $('ecg-cam-error'); e.textContent = j.error || 'error'; e.classList.remove('hidden');
          })
          .catch(function () { snap.disabled = false; });
      }, 'image/jpeg', 0.92);
    });
  }

  // ------------------------------------------------------------------ live serial ECG
  var live = $('ecg-live');
  if (live) {
    var L = JSON.parse($('ecg-live-strings').textContent);
    var canvas = $('ecg-live-canvas'), ctx = canvas.getContext('2d');
    var drawLive = function (j) {
      var w = canvas.width, h = canvas.height;
      ctx.fillStyle = '#fff8f8'; ctx.fillRect(0, 0, w, h);
      var n = j.leads.length; if (!n) { return; }
      var cols = n > 6 ? 2 : 1, rows = Math.ceil(n / cols);
      var cw = w / cols, rh = h / rows, sec = 10 / cols;
      var pxs = cw / sec, pxmv = Math.min(rh / 3, pxs * 0.4);  // 10 mm/mV at 25 mm/s when room allows
      ctx.strokeStyle = '#f3c0c0'; ctx.lineWidth = 1;
      for (var gx = 0; gx < w; gx += pxs * 0.2) { ctx.beginPath(); ctx.moveTo(gx, 0); ctx.lineTo(gx, h); ctx.stroke(); }
      for (var gy = 0; gy < h; gy += pxmv * 0.5) { ctx.beginPath(); ctx.moveTo(0, gy); ctx.lineTo(w, gy); ctx.stroke(); }
      ctx.strokeStyle = '#111'; ctx.lineWidth = 1.5; ctx.fillStyle = '#333'; ctx.font = '16px sans-serif';
      var fs = j.fs_hz, per = Math.round(sec * fs);
      for (var k = 0; k < n; k++) {
        var x = j.signals[k], col = Math.floor(k / rows), row = k % rows;
        var x0 = col * cw, yb = row * rh + rh / 2;
        var start = Math.max(0, x.length - per);  // every lead shows its latest seconds
        ctx.fillText(j.leads[k], x0 + 4, row * rh + 18);
        ctx.beginPath(); var pen = false;
        for (var i = 0; i < per && start + i < x.length; i++) {
          var v = x[start + i];
          if (v === null) { pen = false; continue; }
          var px = x0 + i / fs * pxs, py = yb - v * pxmv;
          if (pen) { ctx.lineTo(px, py); } else { ctx.moveTo(px, py); pen = true; }
        }
        ctx.stroke();
      }
    };
    var poll = function () {
      fetch(live.dataset.api, { credentials: 'same-origin', headers: { 'Accept': 'application/json' } })
        .then(function (r) { return r.json(); })
        .then(function (j) {
          var st = $('ecg-live-status');
          var status = !j.running ? 'down' : (j.status || 'waiting');
          st.dataset.status = status; st.textContent = L[status] || status;
          st.className = 'banner ' + (status === 'ok' ? 'standard' : 'nosignal');
          if (j.running && j.signals) { drawLive(j); }
          $('ecg-live-hr').textContent = j.hr_bpm ? Math.round(j.hr_bpm) : '—';
          var m = j.measurements || {};
          Array.prototype.forEach.call(document.querySelectorAll('#ecg-live-meas tr'), function (tr) {
            var v = m[tr.dataset.name]; tr.children[1].textContent = (v === null || v === undefined) ? '—' : Math.round(v);
          });
          $('ecg-live-model').textContent = j.model || '';
          if (j.stats) { $('ecg-live-stats').textContent = 'frames ' + j.stats.frames + ' · CRC errors ' + (j.stats.bad_crc || 0) + ' · lost ' + (j.stats.lost_frames || 0) + ' · reconnects ' + (j.stats.reconnects || 0); }
        })
        .catch(function () { })
        .then(function () { setTimeout(poll, 300); });
    };
    poll();
  }
})();
