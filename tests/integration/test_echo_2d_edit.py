"""2-D echo measurements on the echo page: a saved subcostal IVC clip is measured by the exam job (no LV model
needed), the page draws its calipers over the frames they lie on, a sonographer's drag is recomputed from the points
on the server and stored as edited (audited), a later re-measurement keeps it, and bad edits change nothing."""

from __future__ import annotations

import json
import re

from device.domain.codecs import encode_clip
from device.eval.echo_2d_ivc import ivc_clip
from device.services.echo_measure2d import findings_2d
from device.store import Store, clinical
from device.store.db import Tx


def test_ivc_calipers_drawn_dragged_kept_and_bad_edits_refused(settings, login):
    from tests.integration.conftest import run_jobs_in

    clip, _, _ = ivc_clip(0, vary=False)
    store = Store.open(settings.data_dir)
    with Tx(store.conn):
        p = clinical.upsert_patient(store.conn, "IVC0002", "Vena Cava", "M")
        exam = clinical.create_exam(store.conn, p, "echo", None, ["SC-IVC"])
        cap = clinical.add_capture(store.conn, store.blobs, exam.id, "clip", encode_clip(clip.frames, clip.fps),
                                   "application/x-cardiocart-clip", label="SC-IVC", quality=0.9,
                                   meta={"mm_per_px": list(clip.mm_per_px), "fps": clip.fps}).id
    ui = login("sono", "sonographer")
    r = ui.post(f"/exams/{exam.id}/echo/measure")
    assert r.status_code == 302 and [j.state for j in run_jobs_in(settings)] == ["done"]
    html = ui.get(f"/exams/{exam.id}/echo").data.decode()
    assert f'id="clip2d-{cap}"' in html and 'class="overlay2d"' in html and "echo_2d 1.0.0" in html
    assert f'id="rows2d-{cap}"' in html and 'data-name="ivc_max_mm"' in html
    data = json.loads(re.search(r'id="echo-data">(.*?)</script>', html, re.DOTALL).group(1))
    [c2] = data["clips2d"]
    f = findings_2d(store.conn, exam.id)[cap]
    assert c2["finding_id"] == f["id"] and c2["frames"]                   # the frames the calipers lie on
    rec = {m["name"]: m for m in c2["detail"]["measures"]}
    auto = rec["ivc_max_mm"]["value"]
    (x0, y0), (x1, y1) = rec["ivc_max_mm"]["points"]
    longer = [[x0, y0], [x1 + (x1 - x0) * 0.5, y1 + (y1 - y0) * 0.5]]     # the sonographer widens it by half
    r = ui.c.post(f"/exams/{exam.id}/echo/edit2d", json={"finding_id": f["id"], "name": "ivc_max_mm",
                  "points": longer}, headers={"X-CSRF-Token": ui.token})
    assert r.status_code == 200, r.data
    assert {"ivc_max_mm", "ivc_collapse_pct"} <= set(r.json["changed"])
    rows = {m.name: m for m in clinical.current_measurements(store.conn, exam.id)}
    assert rows["ivc_max_mm"].source == "edited" and abs(rows["ivc_max_mm"].value - 1.5 * auto) < 0.1
    [row] = [x for x in r.json["rows"] if x["name"] == "ivc_max_mm"]
    assert row["is2d"] and row["source"] == "edited"
    audit = store.conn.execute("SELECT detail FROM audit_log WHERE action = 'edit' ORDER BY id DESC LIMIT 1"
                               ).fetchone()[0]
    assert "ivc_max_mm" in audit
    cur = findings_2d(store.conn, exam.id)[cap]
    for bad, code in (({"finding_id": f["id"], "name": "ivc_max_mm", "points": longer}, 409),   # not current
                      ({"finding_id": cur["id"], "name": "ivc_collapse_pct", "points": longer}, 409),  # derived
                      ({"finding_id": cur["id"], "name": "ivc_max_mm", "points": [[1, 2]]}, 409),
                      ({"finding_id": cur["id"], "name": "nope_mm", "points": longer}, 409),
                      ({"finding_id": "x", "name": "ivc_max_mm", "points": longer}, 400),
                      ({"finding_id": cur["id"], "name": 3, "points": longer}, 400), (["a"], 400)):
        r = ui.c.post(f"/exams/{exam.id}/echo/edit2d", json=bad, headers={"X-CSRF-Token": ui.token})
        assert r.status_code == code and r.json["error"], (bad, r.status_code)
    assert findings_2d(store.conn, exam.id)[cap]["id"] == cur["id"]       # nothing stored by bad edits
    r = ui.post(f"/exams/{exam.id}/echo/measure", {"remeasure": "1"})
    assert [j.state for j in run_jobs_in(settings)] == ["done"]
    rows = {m.name: m for m in clinical.current_measurements(store.conn, exam.id)}
    assert rows["ivc_max_mm"].source == "edited" and abs(rows["ivc_max_mm"].value - 1.5 * auto) < 0.1
    store.close()
