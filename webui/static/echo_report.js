/* Echo measurement page: draws the LV contours and calipers over the ED/ES frames (SVG), lets a sonographer drag
   points with touch or mouse, sends the edit to the server (which recomputes with device/lv and stores it as
   "edited"), then shows the new numbers. No inline script (CSP). State of the last edit: body[data-echo-state]. */
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var form = document.getElementById("measure-form");
  if (form) {
    form.addEventListener("submit", function () {
      var b = document.getElementById("echo-measure");
      b.disabled = true;
      b.textContent = b.dataset.busy || b.textContent;
      document.body.dataset.echoState = "measuring";
    });
  }
  var dataEl = document.getElementById("echo-data");
  var cfg = document.getElementById("echo-config");
  if (!dataEl || !cfg) { return; }
  var data = JSON.parse(dataEl.textContent);
  var canEdit = cfg.dataset.canEdit === "1";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var CALIPER_PHASE = {lvidd: "ed", ivsd: "ed", lvpwd: "ed", aortic_root: "ed", lvids: "es", la_diameter: "es"};
  var HIT_PX = 28;   // touch radius on screen (a 48+ px target around each point)

  function clipOf(captureId) {
    for (var i = 0; i < data.clips.length; i++) {
      if (data.clips[i].capture_id === captureId) { return data.clips[i]; }
    }
    return null;
  }

  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (parent) { parent.appendChild(e); }
    return e;
  }

  function ptsAttr(pts) { return pts.map(function (p) { return p[0] + "," + p[1]; }).join(" "); }

  /* The editable point groups of one frame: [{key, points (array of [x, y]), kind}] (points are live refs). */
  function editables(clip, phase) {
    var d = clip.detail, fr = d.frames[phase], out = [];
    if (d.mode === "apical") {
      out.push({key: "contour", points: fr.trace.contour, kind: "contour"});
      out.push({key: "apex", points: [fr.trace.apex], kind: "apex"});
      out.push({key: "annulus", points: fr.trace.annulus, kind: "annulus"});
    } else if (d.mode === "sax") {
      out.push({key: "endo", points: fr.endo, kind: "contour"});
      out.push({key: "epi", points: fr.epi, kind: "epi"});
    } else {
      Object.keys(d.calipers).forEach(function (name) {
        if (d.calipers[name] && CALIPER_PHASE[name] === phase) {
          out.push({key: name, points: d.calipers[name], kind: "caliper"});
        }
      });
    }
    return out;
  }

  function draw(svg) {
    var clip = clipOf(parseInt(svg.dataset.capture, 10));
    var phase = svg.dataset.phase;
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    if (!clip || clip.detail.status !== "measured") { return; }
    var d = clip.detail, fr = d.frames[phase];
    var w = d.image_size[1], r = Math.max(3, w / 130);
    ["myocardium", "la", "aortic_root"].forEach(function (k) {
      if (d.mode !== "sax" && fr[k] && fr[k].length > 2) {
        el("polygon", {points: ptsAttr(fr[k]), "class": "outline " + k}, svg);
      }
    });
    if (d.mode === "plax" && fr.cavity && fr.cavity.length > 2) {
      el("polygon", {points: ptsAttr(fr.cavity), "class": "outline cavity"}, svg);
    }
    editables(clip, phase).forEach(function (g) {
      if (g.kind === "contour" || g.kind === "epi") {
        el("polygon", {points: ptsAttr(g.points), "class": "trace " + g.kind, "data-key": g.key}, svg);
      } else if (g.kind === "caliper") {
        el("line", {x1: g.points[0][0], y1: g.points[0][1], x2: g.points[1][0], y2: g.points[1][1],
                    "class": "caliper", "data-key": g.key}, svg);
        var t = el("text", {x: g.points[1][0] + r * 1.5, y: g.points[1][1], "class": "caliper-name"}, svg);
        t.textContent = g.key;
      }
    });
    if (d.mode === "apical") {
      var a = fr.trace.annulus, mid = [(a[0][0] + a[1][0]) / 2, (a[0][1] + a[1][1]) / 2];
      el("line", {x1: mid[0], y1: mid[1], x2: fr.trace.apex[0], y2: fr.trace.apex[1], "class": "axis"}, svg);
    }
    editables(clip, phase).forEach(function (g) {
      g.points.forEach(function (p, i) {
        el("circle", {cx: p[0], cy: p[1], r: g.kind === "contour" || g.kind === "epi" ? r * 0.8 : r * 1.2,
                      "class": "handle " + g.kind + (canEdit ? "" : " locked"), "data-key": g.key,
                      "data-index": i}, svg);
      });
    });
  }

  function toImage(svg, ev) {
    var m = svg.getScreenCTM();
    var pt = svg.createSVGPoint();
    pt.x = ev.clientX;
    pt.y = ev.clientY;
    var p = pt.matrixTransform(m.inverse());
    return [p.x, p.y, m.a];
  }

  function setState(s, msg) {
    document.body.dataset.echoState = s;
    var err = document.getElementById("echo-error");
    if (err) {
      err.textContent = msg || "";
      err.classList.toggle("hidden", !msg);
    }
  }

  function updateRows(rows) {
    var missing = false;
    rows.forEach(function (r) {
      /* one row per clip and name: two clips of a view each keep their own values */
      var tr = document.querySelector('tr[data-name="' + r.name + '"][data-capture="' + r.capture_id + '"]');
      if (!tr) { if (r.chosen || r.group !== "biplane") { missing = true; } return; }
      tr.querySelector(".v").textContent = r.value.toFixed(1);
      tr.querySelector(".ref").textContent = r.reference;
      tr.querySelector(".interp").textContent = (data.interp_i18n || {})[r.interpretation] || r.interpretation;
      tr.querySelector(".model").textContent = r.model;
      if (r.source === "edited") { tr.querySelector(".src").textContent = cfg.dataset.srcEdited; }
      tr.dataset.source = r.source;
      tr.classList.toggle("alert", !!r.alert);
    });
    return !missing;
  }

  function send(clip, change) {
    setState("saving");
    fetch(cfg.dataset.editUrl, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf},
      body: JSON.stringify({finding_id: clip.finding_id, change: change})
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
      document.querySelectorAll("svg.overlay").forEach(draw);
      setState("saved");
    }).catch(function () {
      setState("error", "the edit could not be sent; check the connection and try again");
    });
  }

  function attach(svg) {
    var drag = null;
    svg.addEventListener("pointerdown", function (ev) {
      if (!canEdit) { return; }
      var clip = clipOf(parseInt(svg.dataset.capture, 10));
      if (!clip || clip.detail.status !== "measured") { return; }
      var p = toImage(svg, ev), best = null, bestD = HIT_PX / p[2];
      editables(clip, svg.dataset.phase).forEach(function (g) {
        g.points.forEach(function (q, i) {
          var dd = Math.hypot(q[0] - p[0], q[1] - p[1]);
          if (dd < bestD) { bestD = dd; best = {group: g, index: i}; }
        });
      });
      if (!best) { return; }
      ev.preventDefault();
      svg.setPointerCapture(ev.pointerId);
      drag = {clip: clip, group: best.group, index: best.index, moved: false};
      svg.classList.add("dragging");
    });
    svg.addEventListener("pointermove", function (ev) {
      if (!drag) { return; }
      ev.preventDefault();
      var p = toImage(svg, ev), size = drag.clip.detail.image_size;
      var pt = drag.group.points[drag.index];
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
      if (!dr.moved) { return; }
      var change = {};
      if (dr.group.kind === "caliper") {
        change = {caliper: dr.group.key, points: dr.group.points};
      } else {
        change.phase = svg.dataset.phase;
        change[dr.group.key] = dr.group.key === "apex" ? dr.group.points[0] : dr.group.points;
      }
      send(dr.clip, change);
    }
    svg.addEventListener("pointerup", end);
    svg.addEventListener("pointercancel", end);
  }

  document.querySelectorAll("svg.overlay").forEach(function (svg) { draw(svg); attach(svg); });
  setState("ready");
})();
