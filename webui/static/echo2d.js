/* Echo page, 2-D measurements beyond the LV (RV, IVC, great vessels ...): draws each clip's calipers and contours
   over the frames they lie on (SVG), lets a sonographer drag a point, sends {finding_id, name, points} to the
   server (which recomputes the value from the points and stores it as "edited"), then shows the new numbers.
   A caliper spanning two frames (TAPSE) has its first point on `frame` and its second on `frame2`.
   No inline script (CSP). State of the last edit: body[data-echo2d-state]. */
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var dataEl = document.getElementById("echo-data");
  var cfg = document.getElementById("echo-config");
  if (!dataEl || !cfg || !cfg.dataset.edit2dUrl) { return; }
  var data = JSON.parse(dataEl.textContent);
  var canEdit = cfg.dataset.canEdit === "1";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var HIT_PX = 28;

  function clipOf(captureId) {
    var cs = data.clips2d || [];
    for (var i = 0; i < cs.length; i++) { if (cs[i].capture_id === captureId) { return cs[i]; } }
    return null;
  }

  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (parent) { parent.appendChild(e); }
    return e;
  }

  /* The points of measure m shown on frame f: [[point index, [x, y]], ...]. */
  function pointsOn(m, f) {
    if (!m.points || !m.points.length || m.value === null) { return []; }
    var out = [];
    m.points.forEach(function (p, i) {
      var fr = (m.kind === "caliper" && i === 1 && m.frame2 !== null && m.frame2 !== undefined) ? m.frame2 : m.frame;
      if (fr === f) { out.push([i, p]); }
    });
    return out;
  }

  function draw(svg) {
    var clip = clipOf(parseInt(svg.dataset.capture, 10)), f = parseInt(svg.dataset.frame, 10);
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    if (!clip) { return; }
    var w = clip.detail.image_size[1], r = Math.max(3, w / 130);
    (clip.detail.measures || []).forEach(function (m) {
      var on = pointsOn(m, f);
      if (!on.length) { return; }
      if (m.kind === "contour" && on.length > 2) {
        el("polygon", {points: on.map(function (q) { return q[1][0] + "," + q[1][1]; }).join(" "),
                       "class": "trace contour", "data-name": m.name}, svg);
      } else if (m.kind === "caliper" && on.length === 2) {
        el("line", {x1: on[0][1][0], y1: on[0][1][1], x2: on[1][1][0], y2: on[1][1][1], "class": "caliper",
                    "data-name": m.name}, svg);
      }
      var last = on[on.length - 1][1];
      var t = el("text", {x: last[0] + r * 1.5, y: last[1], "class": "caliper-name"}, svg);
      t.textContent = m.name;
      on.forEach(function (q) {
        el("circle", {cx: q[1][0], cy: q[1][1], r: m.kind === "contour" ? r * 0.8 : r * 1.2,
                      "class": "handle " + m.kind + (canEdit ? "" : " locked"), "data-name": m.name,
                      "data-index": q[0]}, svg);
      });
    });
  }

  function toImage(svg, ev) {
    var m = svg.getScreenCTM(), pt = svg.createSVGPoint();
    pt.x = ev.clientX;
    pt.y = ev.clientY;
    var p = pt.matrixTransform(m.inverse());
    return [p.x, p.y, m.a];
  }

  function setState(s, msg) {
    document.body.dataset.echo2dState = s;
    var err = document.getElementById("echo-error");
    if (err) { err.textContent = msg || ""; err.classList.toggle("hidden", !msg); }
  }

  function updateRows(rows) {
    var ok = true;
    rows.forEach(function (r) {
      if (!r.is2d) { return; }
      var tr = document.querySelector('#rows2d-' + r.capture_id + ' tr[data-name="' + r.name + '"]');
      if (!tr) { ok = false; return; }
      tr.querySelector(".v").textContent = r.value.toFixed(1);
      tr.querySelector(".interp").textContent = (data.interp_i18n || {})[r.interpretation] || r.interpretation;
      if (r.source === "edited") { tr.querySelector(".src").textContent = cfg.dataset.srcEdited; }
      tr.dataset.source = r.source;
      tr.classList.toggle("alert", !!r.alert);
    });
    return ok;
  }

  function send(clip, m) {
    setState("saving");
    fetch(cfg.dataset.edit2dUrl, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf},
      body: JSON.stringify({finding_id: clip.finding_id, name: m.name, points: m.points})
    }).then(function (resp) {
      return resp.json().then(function (j) { return {ok: resp.ok, body: j}; });
    }).then(function (res) {
      if (!res.ok) {
        setState("error", res.body.error || "error");
        window.setTimeout(function () { window.location.reload(); }, 4000);
        return;
      }
      data = res.body;
      if (!updateRows(data.rows)) { window.location.reload(); return; }
      document.querySelectorAll("svg.overlay2d").forEach(draw);
      setState("saved");
    }).catch(function () {
      setState("error", "the edit could not be sent; check the connection and try again");
    });
  }

  function attach(svg) {
    var drag = null;
    svg.addEventListener("pointerdown", function (ev) {
      if (!canEdit) { return; }
      var clip = clipOf(parseInt(svg.dataset.capture, 10)), f = parseInt(svg.dataset.frame, 10);
      if (!clip) { return; }
      var p = toImage(svg, ev), best = null, bestD = HIT_PX / p[2];
      (clip.detail.measures || []).forEach(function (m) {
        if (m.kind === "derived") { return; }
        pointsOn(m, f).forEach(function (q) {
          var dd = Math.hypot(q[1][0] - p[0], q[1][1] - p[1]);
          if (dd < bestD) { bestD = dd; best = {m: m, index: q[0]}; }
        });
      });
      if (!best) { return; }
      ev.preventDefault();
      svg.setPointerCapture(ev.pointerId);
      drag = {clip: clip, m: best.m, index: best.index, moved: false};
      svg.classList.add("dragging");
    });
    svg.addEventListener("pointermove", function (ev) {
      if (!drag) { return; }
      ev.preventDefault();
      var p = toImage(svg, ev), size = drag.clip.detail.image_size, pt = drag.m.points[drag.index];
      pt[0] = Math.round(Math.min(Math.max(p[0], 0), size[1] - 1) * 100) / 100;
      pt[1] = Math.round(Math.min(Math.max(p[1], 0), size[0] - 1) * 100) / 100;
      drag.moved = true;
      draw(svg);
    });
    function end(ev) {
      if (!drag) { return; }
      var dr = drag;
      drag = null;
      svg.classList.remove("dragging");
      if (svg.hasPointerCapture && svg.hasPointerCapture(ev.pointerId)) { svg.releasePointerCapture(ev.pointerId); }
      if (dr.moved) { send(dr.clip, dr.m); }
    }
    svg.addEventListener("pointerup", end);
    svg.addEventListener("pointercancel", end);
  }

  document.querySelectorAll("svg.overlay2d").forEach(function (svg) { draw(svg); attach(svg); });
  setState("ready");
})();
