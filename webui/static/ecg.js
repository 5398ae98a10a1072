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

  // ------------------------------------------------------------------ overlay layer toggles
  Array.prototype.forEach.call(document.querySelectorAll('input[data-toggle]'), function (cb) {
    cb.addEventListener('change', function () {
      Array.prototype.forEach.call(document.querySelectorAll('#ecg-overlay .' + cb.dataset.toggle), function (el) {
        el.style.display = cb.checked ? '' : 'none';
      });
    });
  });

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
