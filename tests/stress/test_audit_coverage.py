"""An audit-log entry for every view, edit, signature and export of patient data (issue 8 item 4).

Every route of the app (``app.url_map``) is called as a logged-in user of a role allowed to use it, on a cart with
patient data (tests/stress/secworld.py), in an order that lets each state-changing request really change something
(edit before sign, sign before correct, export before verify). After each call:

- a page or file that shows patient data (200) must have added an audit row by that user naming the exam (or the
  capture, measurement, alert or bundle of that exam);
- any change of the stored data (a digest of every row of every data table) must have added an audit row by that
  user naming the object changed;
- routes that are not patient data, or are parts of an audited page (the images and streams a page loads), are
  listed below with the reason, and must not change anything.

A route not classified here fails the test; a state-changing route that changed nothing in this run fails too
(the request was wrong, and the check would prove nothing), unless it is listed in CANNOT_CHANGE_HERE.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.stress.figures import stress_mode
from tests.stress.secworld import (
    BY_ROLE,
    POLICY,
    Cart,
    Req,
    shared_world,
    printout_jpeg,
    requests_for,
    wait_perfusion,
    wait_usb,
)

NOT_PATIENT = {
    "api.health": "public health check",
    "auth.login": "sign-in (audited as login / login_failed)",
    "auth.setup": "first administrator (closed once a user exists)",
    "auth.set_language": "the user's language",
    "auth.logout": "sign-out (audited as logout)",
    "static": "scripts and style sheets",
    "api.metrics": "model latency figures",
    "admin.users": "user accounts (changes audited as admin)",
    "admin.set_active": "user accounts (audited as admin)",
    "admin.audit_view": "the audit log itself (its viewing is audited)",
    "exams.new": "the empty new-exam form (the POST creates an exam: audited)",
    "live.state": "live view name and quality numbers of the probe (no patient identity)",
    "ecg.live_api": "live serial ECG samples before they are saved to an exam (saving is audited)",
    "perfusion.job_state": "state of a background job (queued/running/done) without results",
    "reports.usb_job": "progress of a USB job; the bundle it writes is audited",
    "reports.usb_passphrase": "sets the USB export passphrase (audited as admin; refused when configured)",
    "echo_learn.page": "site-learning summary: the view model, counts of confirmed clips per view (viewing audited)",
    "echo_learn.learn": "queues site learning on the confirmed clips (audited as echo_learn_job)",
    "echo_learn.promote": "makes a site-trained view model active (audited as echo_view_model)",
    "echo_learn.rollback": "returns to the previous view model (audited as echo_view_model)",
}
SUBRESOURCES = {
    "api.alerts": "alert list polled by the top bar of every (audited) page; acknowledging is audited",
    "live.stream": "the MJPEG picture of the live page (live.page is audited)",
    "live.frame": "a still of the live page's picture (live.page is audited)",
    "live.events": "the event stream of the live page (live.page is audited)",
    "echo_report.frame_png": "key-frame images of the echo measurement page (echo_report.page is audited)",
    "echo_report.clip_loop": "a saved clip's loop played on the exam page (exams.detail is audited)",
    "ecg.blob": "the photo and previews on the ECG page (ecg.page is audited)",
    "sax.frame_png": "a short-axis MRI frame with its contours shown on the SAX page (sax.page is audited)",
    "sax.grid_png": "the slice x phase thumbnail grid of the SAX page (sax.page is audited)",
    "jobs.status": "progress of a queued job followed by an exam page (the page and its result are audited)",
    "jobs.events": "progress events of a queued job followed by an exam page (the page is audited)",
}
CANNOT_CHANGE_HERE = {
    "ecg.camera_capture": "no camera on a test machine: refused with a message, nothing stored",
    "ecg.live_save": "no serial ECG board on a test machine: refused with a message, nothing stored",
    "auth.login": "the client is already logged in",
    "auth.setup": "closed once a user exists",
    "auth.set_language": "changes the user's language only (users table, not patient data)",
    "auth.logout": "ends the session only",
    "reports.usb_passphrase": "the test cart names [usb] passphrase_file: refused with a message, nothing stored",
    "sax.edit_contour": "needs the id of an analysed SAX frame, unknown when the scenario is written: refused here; "
                        "its audit row is asserted in tests/integration/test_sax_ui.py",
}
# object types of audit rows that name one exam through object_id
EXAM_OBJECTS = ("exam", "report", "export", "echo_measurements", "perfusion", "live", "sax_mri")
# data leaves the box (or the bundle on a drive is read back / the drive ejected): an export row is required
EXPORTS = {"reports.report_pdf", "reports.export_file", "reports.usb_export", "reports.usb_verify",
           "reports.usb_eject"}
LIST_VIEWS = {"exams.index": "exam_list", "exams.patient_lookup": "patient", "reports.sync_page": "sync_state", "reports.usb_page": "usb",
              "ecg.live_page": "ecg_live", "live.page": "live", "alerts.page": "alert_list"}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    return shared_world(tmp_path_factory)


def _exam_of(cart: Cart, row: dict) -> set[int]:
    """The exams an audit row names."""
    ot, oid, d = row["object_type"], row["object_id"], row["detail"]
    out: set[int] = set()
    if isinstance(d.get("exam_id"), int):
        out.add(d["exam_id"])
    out.update(x for x in (d.get("exams") or []) if isinstance(x, int))
    if not str(oid).isdigit():
        return out
    oid = int(oid)
    if ot in EXAM_OBJECTS:
        out.add(oid)
    table = {"capture": "captures", "ecg_reading": "captures", "perfusion_analysis": "captures",
             "doppler_screen": "captures",
             "measurement": "measurements", "alert": "alerts"}.get(ot)
    if table:
        for r in cart.query(f"SELECT exam_id FROM {table} WHERE id = ?", oid):  # noqa: S608 - fixed names
            out.add(r[0])
    return out


def _exam_in(req: Req, form: dict) -> int | None:
    parts = req.url.split("/")
    if len(parts) > 2 and parts[1] == "exams" and parts[2].isdigit():
        return int(parts[2])
    for k in ("exam_id", "exam_ids"):
        v = form.get(k)
        v = v[0] if isinstance(v, list) else v
        if v is not None and str(v).isdigit():
            return int(v)
    return None


def _doppler_png() -> bytes:
    import cv2

    from device.sim.doppler import simulate
    return cv2.imencode(".png", cv2.cvtColor(simulate("tr", 7101, layout="a").rgb, cv2.COLOR_RGB2BGR))[1].tobytes()


def _sax_zip() -> bytes:
    from tests.sax_series import sax_zip
    return sax_zip()


def scenario(ids: dict) -> list[tuple[str, Req]]:
    """(role, request) in an order where each state-changing request can succeed."""
    by = {}
    for q in requests_for(ids):
        by.setdefault((q.endpoint, q.method), q)
    e, g, p = ids["echo"], ids["ecg"], ids["perf"]
    R = Req
    views = [(k, q) for k, q in by.items() if q.method == "GET"]
    extra_views = [
        R("reports.report_page", "GET", f"/exams/{g}/report"), R("reports.report_page", "GET", f"/exams/{p}/report"),
        R("exams.detail", "GET", f"/exams/{g}"), R("exams.detail", "GET", f"/exams/{p}"),
        R("reports.export_file", "GET", f"/exams/{g}/export/fhir.json"),
        R("reports.export_file", "GET", f"/exams/{e}/export/dicom.zip"),
        R("reports.export_file", "GET", f"/exams/{e}/export/measurements.json"),
        R("reports.report_html", "GET", f"/exams/{g}/report/v1.html"),
        R("ecg.blob", "GET", f"/exams/{g}/ecg/blob/{ids['preview_sha']}"),
    ]
    posts = [
        ("doc", by[("exams.new", "POST")]),
        ("sono", by[("live.protocol", "POST")]),
        ("sono", by[("echo_learn.clip_label", "POST")]),
        ("sono", by[("echo_report.edit", "POST")]),
        ("sono", by[("echo_report.edit_2d", "POST")]),
        ("sono", by[("echo_report.pick", "POST")]),
        ("doc", by[("echo_report.measure", "POST")]),
        ("sono", by[("ecg.upload", "POST")]),
        ("sono", R("ecg.upload", "POST", f"/exams/{g}/ecg/upload",
                   lambda: {"photo": (io.BytesIO(printout_jpeg()), "ecg2.jpg")}, expensive=True)),
        ("doc", by[("ecg.reread", "POST")]),
        ("doc", by[("ecg.correct", "POST")]),
        ("doc", by[("ecg.calipers", "POST")]),
        ("doc", by[("ecg.use_reading", "POST")]),
        ("sono", by[("ecg.camera_capture", "POST")]),
        ("sono", by[("ecg.live_save", "POST")]),
        ("doc", by[("perfusion.upload", "POST")]),
        ("sono", Req("perfusion.demo", "POST", by[("perfusion.demo", "POST")].url, by[("perfusion.demo", "POST")].data,
                     expensive=True)),
        ("doc", by[("perfusion.reanalyse", "POST")]),
        ("doc", by[("perfusion.regions", "POST")]),
        ("sono", R("echo_report.doppler_upload", "POST", f"/exams/{e}/echo/doppler",
                   lambda: {"screen": (io.BytesIO(_doppler_png()), "tr.png")})),
        ("sono", R("sax.upload", "POST", f"/exams/{e}/sax/upload",
                   lambda: {"series": (io.BytesIO(_sax_zip()), "sax.zip")})),
        ("doc", by[("sax.edit_value", "POST")]),
        ("doc", by[("sax.edit_contour", "POST")]),
        ("sono", by[("reports.save_text", "POST")]),
        ("doc", by[("reports.review_measurement", "POST")]),
        ("doc", R("reports.review_measurement", "POST", f"/exams/{e}/report/measurements/{ids['measurement']}",
                  lambda: {"action": "confirm"})),
        ("sono", by[("alerts.acknowledge", "POST")]),
        ("sono", by[("api.ack", "POST")], "unack"),
        ("doc", by[("reports.sign", "POST")]),
        ("doc", R("reports.report_pdf", "GET", f"/exams/{g}/report/v1.pdf", expensive=True)),
        ("adm", by[("reports.sync_queue", "POST")], "unqueue"),
        ("adm", by[("reports.sync_retry", "POST")], "reject"),
        ("doc", by[("reports.correct", "POST")]),
        ("doc", by[("reports.usb_export", "POST")]),
        ("adm", R("reports.usb_verify", "POST", "/usb/verify", lambda: {"drive": "/dev/sdb1", "bundle": "@bundle"})),
        ("adm", by[("reports.usb_eject", "POST")]),
        ("adm", by[("admin.users", "POST")]),
        ("adm", by[("admin.set_active", "POST")]),
        ("adm", by[("reports.usb_passphrase", "POST")]),
        ("adm", by[("echo_learn.learn", "POST")]),
        ("adm", by[("echo_learn.promote", "POST")]),
        ("adm", by[("echo_learn.rollback", "POST")]),
        ("doc", by[("auth.set_language", "POST")]),
        ("doc", by[("exams.close", "POST")]),
        ("doc", by[("auth.login", "POST")]),
        ("doc", by[("auth.setup", "POST")]),
        ("doc", by[("auth.logout", "POST")]),
    ]
    out = []
    for q in extra_views:
        q.expensive = True      # the same routes again on other exams and formats: make stress only
    for _k, q in views + [(None, x) for x in extra_views]:
        allowed = POLICY[q.endpoint] or ("physician",)
        out.append(("doc" if "physician" in allowed else BY_ROLE[allowed[0]], q, ""))
    return out + [(x[0], x[1], x[2] if len(x) > 2 else "") for x in posts]


def _prep(cart: Cart, what: str, exam: int | None) -> None:
    """Put the store in the state a request needs: the PACS rejected the exam's objects / they were never queued."""
    import sqlite3
    if not what:
        return
    c = sqlite3.connect(cart.db_path)
    try:
        if what == "reject":
            c.execute("UPDATE outbox SET state = 'rejected', last_error = 'rejected by the PACS' WHERE exam_id = ?",
                      (exam,))
        elif what == "unack":    # the alert page acknowledged it just before; the JSON route acknowledges it again
            c.execute("UPDATE alerts SET acknowledged_by = NULL, acknowledged_at = NULL")
        elif what == "unqueue":
            c.execute("DELETE FROM outbox WHERE exam_id = ?", (exam,))
        c.commit()
    finally:
        c.close()


def test_every_view_edit_signature_and_export_of_patient_data_is_audited(world, tmp_path, figures):
    cart = Cart.copy_of(world, tmp_path, sync={"target": "dicomweb", "dicomweb_url": "http://127.0.0.1:9/dicom-web"})
    rules = {r.endpoint for r in cart.app.url_map.iter_rules()}
    steps = scenario(cart.ids)
    assert rules <= {q.endpoint for _, q, _ in steps}, sorted(rules - {q.endpoint for _, q, _ in steps})
    full = stress_mode() == "full"
    skipped = sorted({q.endpoint for _, q, _ in steps if q.expensive and not full})
    patient_routes = rules - set(NOT_PATIENT) - set(SUBRESOURCES)
    clients = {}
    problems: list[str] = []
    changed_by: dict[str, int] = {}
    viewed_ok: dict[str, int] = {}
    exported: dict[str, int] = {}
    calls = 0
    for who, q, prep in steps:
        if q.expensive and not full:
            continue
        if who not in clients:
            clients[who] = cart.client(who)
        ui = clients[who]
        uid = cart.user_id(who)
        if q.data is not None and "@bundle" in str(q.data()):
            stick = cart.usb_root / "media" / "STICK"
            names = sorted(x.name for x in stick.glob("*.zip"))
            q = Req(q.endpoint, q.method, q.url, lambda n=names: {"drive": "/dev/sdb1", "bundle": n[-1] if n else "x"})
        form = q.data() if q.data else {}
        exam = _exam_in(q, form)
        _prep(cart, prep, exam)
        before, mark = cart.snapshot(), cart.audit_mark()
        r = q.send(ui)
        calls += 1
        loc = r.location or ""
        if "/perfusion" in loc:
            wait_perfusion(ui, int(loc.split("/")[2]), loc)
        elif loc.startswith("/usb") and "job=" in loc:
            wait_usb(ui, loc)
        elif "/ecg?job=" in loc or "/echo?job=" in loc or "/sax?job=" in loc:   # the worker role's part, run here: it audits as the user
            from tests.integration.conftest import run_jobs_in
            run_jobs_in(cart.settings)
        rows = cart.audit_since(mark)
        mine = [x for x in rows if x["user_id"] == uid and x["username"] == who]
        changed = cart.snapshot() != before
        where = f"{who} {q.method} {q.url} -> {r.status_code}"
        assert r.status_code < 500, where
        if changed:
            changed_by[q.endpoint] = changed_by.get(q.endpoint, 0) + 1
        if q.endpoint in SUBRESOURCES:
            if changed:
                problems.append(f"{where}: a page resource changed stored data")
            continue
        if q.endpoint in NOT_PATIENT:
            if changed and q.endpoint not in ("auth.set_language",) and not mine:
                problems.append(f"{where}: changed stored data without an audit row")
            continue
        if q.method == "GET" and r.status_code == 200:
            viewed_ok[q.endpoint] = viewed_ok.get(q.endpoint, 0) + 1
            want = LIST_VIEWS.get(q.endpoint)
            if want and exam is None:
                ok = any(x["action"] == "view" and x["object_type"] in (want, "live") for x in mine)
            else:
                ok = any(x["action"] in ("view", "export") and exam in _exam_of(cart, x) for x in mine)
            if not ok:
                problems.append(f"{where}: patient data shown without an audit row naming exam {exam} "
                                f"(rows: {[(x['action'], x['object_type'], x['object_id']) for x in rows]})")
        if changed:
            ok = any(x["action"] in ("create", "edit", "sign", "export", "sync") and
                     (exam is None or exam in _exam_of(cart, x)) for x in mine)
            if not ok:
                problems.append(f"{where}: patient data changed without an audit row naming exam {exam} "
                                f"(rows: {[(x['action'], x['object_type'], x['object_id']) for x in rows]})")
        if q.endpoint in EXPORTS and r.status_code in (200, 302) and ("job=" in loc or q.method == "GET"
                                                                       or q.endpoint == "reports.usb_eject"):
            exported[q.endpoint] = exported.get(q.endpoint, 0) + 1
            if not any(x["action"] == "export" and (exam is None or exam in _exam_of(cart, x)) for x in mine):
                problems.append(f"{where}: patient data left the box without an export audit row")
    posts = {q.endpoint for _, q, _ in steps if q.method != "GET" and (full or not q.expensive)}
    never = sorted(x for x in posts & patient_routes
                   if x not in changed_by and x not in exported and x not in CANNOT_CHANGE_HERE)
    gets = {q.endpoint for _, q, _ in steps if q.method == "GET"} & patient_routes
    unseen = sorted(x for x in gets if x not in viewed_ok)
    if skipped:
        figures.note("security", "audit coverage, short run (make test): pipeline-heavy requests left to make "
                     f"stress: {', '.join(skipped)}")
    figures.note("security", f"audit coverage: {len(patient_routes)} routes show or change patient data; "
                 f"{len(SUBRESOURCES)} are parts of an audited page and {len(NOT_PATIENT)} hold no patient data "
                 "(listed with reasons in tests/stress/test_audit_coverage.py).")
    figures.row("security", check="audit row for every view/edit/sign/export of patient data (items: calls)",
                items_checked=calls, passed=calls - len(problems),
                findings=len(problems), fixed=0, explained=0)
    assert not problems, "\n".join(problems)
    assert not never, f"state-changing routes that changed nothing in this run (fix the request): {never}"
    assert not unseen, f"patient pages that never answered 200 in this run (fix the request): {unseen}"


def test_list_of_exempt_routes_is_current(world, tmp_path):
    cart = Cart.copy_of(world, tmp_path)
    rules = {r.endpoint for r in cart.app.url_map.iter_rules()}
    stale = sorted((set(NOT_PATIENT) | set(SUBRESOURCES)) - rules)
    assert not stale, f"exempt routes the app no longer has: {stale}"
    assert not set(NOT_PATIENT) & set(SUBRESOURCES)


def test_audit_log_is_append_only_and_its_viewing_is_audited(world, tmp_path, figures):
    import sqlite3
    cart = Cart.copy_of(world, tmp_path)
    adm = cart.client("adm")
    mark = cart.audit_mark()
    assert adm.get("/admin/audit").status_code == 200
    assert [(x["action"], x["object_type"], x["username"]) for x in cart.audit_since(mark)] == \
        [("view", "audit_log", "adm")]
    before = cart.query("SELECT count(*), max(id) FROM audit_log")[0]
    c = sqlite3.connect(cart.db_path)
    refused = 0
    try:
        for sql in ("UPDATE audit_log SET username = 'nobody'", "DELETE FROM audit_log",
                    "DELETE FROM audit_log WHERE id = (SELECT max(id) FROM audit_log)",
                    "UPDATE audit_log SET detail = '{}' WHERE action = 'login'"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                c.execute(sql)
            refused += 1
        c.rollback()
    finally:
        c.close()
    assert tuple(cart.query("SELECT count(*), max(id) FROM audit_log")[0]) == tuple(before)
    figures.row("security", check="audit log append-only (UPDATE/DELETE refused by the database)",
                items_checked=refused, passed=refused, findings=0, fixed=0, explained=0)
